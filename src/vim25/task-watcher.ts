// TaskWatcher: one watcher for every task in flight on a vCenter session (instead of a polling loop
// per task), built in layers: task-waiters, task-collector, task-batch, task-update-loop.

// Design (calls are the budget):
//   - A dedicated PropertyCollector with ONE filter: ListView --view--> Task, properties
//     info.state/result/error (+ a few static ones). Created lazily, 3 calls, once per session.
//   - watch(task) queues the task; every task queued within batchDelayMs (25 ms) goes into
//     ONE ModifyListView call, which also carries the removal of tasks that finished meanwhile.
//     Adding a task to the view makes the collector report its *current* values on the next
//     WaitForUpdatesEx, so tasks that finished before being added resolve too.
//   - ONE WaitForUpdatesEx long-poll loop serves all tasks. It runs only while tasks are
//     pending, and waits at least minWaitIntervalMs between calls so that changes of many
//     tasks arrive together.
//   => with 20 tasks in flight: ~1 ModifyListView per batch + a few WaitForUpdatesEx, shared.
//
// Failure handling:
//   - NotAuthenticated: the session layer logs in again; the collector and view belonged to the
//     old session, so they are recreated (generation change) and all pending tasks re-added.
//   - A task that no longer exists (ManagedObjectNotFound, not added to the view, or leaving it)
//     rejects with TaskVanishedError: its outcome is unknown, settle it by looking up the VM.
//   - close(): cancels the long-poll, destroys the view and collector, rejects waiters.

import * as methods from './methods.js'
import { TaskWatcherClosedError } from './task-errors.js'
import { TaskUpdateLoop } from './task-update-loop.js'

export { TaskFailedError, TaskVanishedError, TaskWatchTimeoutError, TaskWatcherClosedError } from './task-errors.js'
export type { SessionGeneration, TaskFinished, TaskWatcherOptions, WatchOptions } from './task-types.js'

/**
 * Watches tasks through one PropertyCollector: `watch(task)` resolves with the TaskInfo when the task
 * succeeds and rejects with TaskFailedError when it fails; `close()` ends it all.
 */
export class TaskWatcher extends TaskUpdateLoop {
  /** Stops the loop, destroys the view and collector, rejects all pending watches. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.tracked.values()) {
      for (const w of t.waiters) w.reject(new TaskWatcherClosedError(t.ref))
      t.waiters.clear()
    }
    this.tracked.clear()
    this.toAdd.clear()
    this.toRemove.clear()

    const infra = this.infra ?? (await this.infraPromise?.catch(() => undefined))
    this.infra = undefined
    if (!infra || infra.generation !== this.session.generation) return // gone with its session
    const quiet = (p: Promise<unknown>) => p.catch(() => undefined)
    const opts = { timeoutMs: 10_000 }
    if (this.waitInFlight) await quiet(methods.CancelWaitForUpdates(this.rt, { _this: infra.collector }, opts))
    await quiet(methods.DestroyView(this.rt, { _this: infra.view }, opts))
    await quiet(methods.DestroyPropertyCollector(this.rt, { _this: infra.collector }, opts))
  }
}
