// How a watch can end other than with the task's success: the task failed, vanished, or the watch
// timed out or was closed.

import { VimFault } from './soap/faults.js'
import type { MoRef, TaskInfo } from './types.js'

/** The task failed: `faultType` is the task's fault (e.g. DuplicateName), so isFault() works on it. */
export class TaskFailedError extends VimFault {
  override name = 'TaskFailedError'
  override readonly code = 'VIM_TASK_FAILED'
  readonly task: MoRef
  readonly info: TaskInfo
  readonly localizedMessage: string

  constructor(info: TaskInfo) {
    const err = info.error
    super(
      {
        faultCode: '',
        faultString: err?.localizedMessage ?? '',
        faultType: err?.faultType ?? 'UnknownFault',
        detail: err?.fault,
      },
      info.descriptionId ?? info.task.value,
    )
    this.message = `task ${info.task.value}${info.descriptionId ? ` (${info.descriptionId}` : ''}${
      info.entityName ? ` on ${info.entityName})` : info.descriptionId ? ')' : ''
    } failed: ${this.faultType}${err?.localizedMessage ? `: ${err.localizedMessage}` : ''}`
    this.task = info.task
    this.info = info
    this.localizedMessage = err?.localizedMessage ?? ''
  }
}

/**
 * The task object no longer exists (vCenter restarted, or the task expired): its outcome is
 * unknown. Settle it from the inventory (e.g. find the clone by its instance UUID), never by
 * starting the operation again blindly.
 */
export class TaskVanishedError extends Error {
  override name = 'TaskVanishedError'
  readonly code = 'VIM_TASK_VANISHED'
  constructor(readonly task: MoRef) {
    super(`task ${task.value} no longer exists on the server; its outcome is unknown`)
  }
}

export class TaskWatchTimeoutError extends Error {
  override name = 'TaskWatchTimeoutError'
  readonly code = 'VIM_TASK_WATCH_TIMEOUT'
  constructor(readonly task: MoRef, timeoutMs: number) {
    super(`task ${task.value} did not finish within ${timeoutMs} ms (it may still be running)`)
  }
}

export class TaskWatcherClosedError extends Error {
  override name = 'TaskWatcherClosedError'
  readonly code = 'VIM_TASK_WATCHER_CLOSED'
  constructor(readonly task?: MoRef) {
    super(`task watcher closed${task ? ` while waiting for ${task.value}` : ''}`)
  }
}
