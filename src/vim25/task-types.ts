// What the task watcher's parts share: its options, the state kept per task, the properties watched,
// and merging reported changes into a task's fields.

import { isObject } from './soap/values.js'
import type { VimLogger } from './soap/transport.js'
import type { MoRef, PropertyChange, TaskInfo } from './types.js'

export interface WatchOptions {
  signal?: AbortSignal
  /** Give up waiting (TaskWatchTimeoutError) after this many ms. The task keeps running. */
  timeoutMs?: number
}

export interface TaskWatcherOptions {
  /** Long-poll length of WaitForUpdatesEx, seconds (default 60). */
  maxWaitSeconds?: number
  /** Minimum time between WaitForUpdatesEx calls, ms (default 250): lets changes accumulate. */
  minWaitIntervalMs?: number
  /**
   * Window to collect watch() calls into one ModifyListView, ms (default 25; 0 = the same tick only).
   * Task calls answered a few ms apart then share one call.
   */
  batchDelayMs?: number
  /**
   * Read a new batch of tasks' state once before adding them to the view (default true): tasks
   * already finished resolve at once. One call per batch; it replaces the view's call when the
   * whole batch is done.
   */
  checkBeforeWatching?: boolean
  /** Consecutive failed calls (transport errors) before all pending watches reject (default 5). */
  maxConsecutiveFailures?: number
  logger?: VimLogger
  /** Told of every task seen to finish (metrics); an observer that throws is ignored. */
  onTaskFinished?: (task: TaskFinished) => void
}

/** A task that finished: `durationMs` runs from the first watch() of it to its end being reported. */
export interface TaskFinished {
  /** What the task did, e.g. `VirtualMachine.clone` (vCenter) or `VirtualMachine.cloneVm` (vcsim). */
  descriptionId?: string
  state: 'success' | 'error'
  durationMs: number
}

/** What the watcher needs from the session: its login generation. */
export interface SessionGeneration {
  readonly generation: number
}

/** Task info paths we watch. Not `info` as a whole: progress updates would wake the loop. */
export const TASK_PATHS = [
  'info.key',
  'info.descriptionId',
  'info.entity',
  'info.entityName',
  'info.state',
  'info.error',
  'info.result',
]
/** Finished tasks to leave in the view before a ModifyListView just for removing them. */
export const REMOVE_BATCH = 100

export interface Waiter {
  resolve(info: TaskInfo): void
  reject(err: Error): void
}

export interface Tracked {
  ref: MoRef
  /** TaskInfo fields as last reported (merged changes), keyed relative to `info`. */
  fields: Record<string, unknown>
  waiters: Set<Waiter>
  inView: boolean
  /** performance.now() at the first watch(): the start of its duration. */
  since: number
  /** The final info once the task succeeded or failed. */
  final?: TaskInfo
}

export interface Infra {
  generation: number
  collector: MoRef
  view: MoRef
  filter: MoRef
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Merges one PropertyChange (path relative to the Task, e.g. `info.state`) into TaskInfo fields. */
export function applyChange(fields: Record<string, unknown>, c: PropertyChange): void {
  if (c.name === 'info') {
    // Some servers report the parent path: take the whole TaskInfo.
    if (isObject(c.val)) for (const [k, v] of Object.entries(c.val)) if (k !== '_type') fields[k] = v
    return
  }
  if (!c.name.startsWith('info.')) return
  const field = c.name.slice('info.'.length)
  if (c.op === 'remove' || c.op === 'indirectRemove' || c.val === undefined) delete fields[field]
  else fields[field] = c.val
}
