// The task watcher's settings and its bookkeeping: the tasks tracked, who waits for each, how a wait
// ends (finished, vanished, given up on), and the changes to the view that this queues.

import type { RoundTripper, VimLogger } from './soap/transport.js'
import { TaskFailedError, TaskVanishedError, TaskWatchTimeoutError, TaskWatcherClosedError } from './task-errors.js'
import { REMOVE_BATCH, type SessionGeneration, type TaskWatcherOptions, type Tracked, type WatchOptions, type Waiter } from './task-types.js'
import type { MoRef, ServiceContent, TaskInfo } from './types.js'

const COMPLETED_CACHE = 1000

/** The first layer of TaskWatcher (task-watcher.ts): the view's batches and the update loop build on it. */
export abstract class TaskWaiters {
  protected readonly maxWaitSeconds: number
  protected readonly minWaitIntervalMs: number
  protected readonly batchDelayMs: number
  protected readonly checkBeforeWatching: boolean
  protected readonly maxFailures: number
  protected readonly logger: VimLogger | undefined
  private readonly onTaskFinished: TaskWatcherOptions['onTaskFinished']

  protected readonly tracked = new Map<string, Tracked>()
  protected readonly toAdd = new Map<string, MoRef>()
  protected readonly toRemove = new Map<string, MoRef>()
  /** Final infos of tasks already removed from the view: re-watching them costs no call. */
  private readonly completed = new Map<string, TaskInfo>()
  protected closed = false

  constructor(
    protected readonly rt: RoundTripper,
    protected readonly content: () => ServiceContent,
    protected readonly session: SessionGeneration,
    opts: TaskWatcherOptions = {},
  ) {
    this.maxWaitSeconds = opts.maxWaitSeconds ?? 60
    this.minWaitIntervalMs = opts.minWaitIntervalMs ?? 250
    this.batchDelayMs = opts.batchDelayMs ?? 25
    this.checkBeforeWatching = opts.checkBeforeWatching ?? true
    this.maxFailures = opts.maxConsecutiveFailures ?? 5
    this.logger = opts.logger
    this.onTaskFinished = opts.onTaskFinished
  }

  /** Tasks with at least one waiter that have not finished yet. */
  get pendingCount(): number {
    let n = 0
    for (const t of this.tracked.values()) if (!t.final && t.waiters.size > 0) n++
    return n
  }

  /** Resolves with the TaskInfo when the task succeeds; rejects with TaskFailedError when it fails. */
  watch(task: MoRef, opts: WatchOptions = {}): Promise<TaskInfo> {
    if (this.closed) return Promise.reject(new TaskWatcherClosedError(task))
    const done = this.completed.get(task.value)
    if (done) return settled(done)

    return new Promise<TaskInfo>((resolve, reject) => {
      let t = this.tracked.get(task.value)
      if (!t) {
        t = { ref: { type: task.type, value: task.value }, fields: {}, waiters: new Set(), inView: false, since: performance.now() }
        this.tracked.set(task.value, t)
        this.toAdd.set(task.value, t.ref)
        this.scheduleFlush()
      } else if (t.final) {
        settled(t.final).then(resolve, reject)
        return
      }
      this.toRemove.delete(task.value) // it was going to leave the view for want of waiters

      const tracked = t
      let timer: NodeJS.Timeout | undefined
      const cleanup = () => {
        if (timer) clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        resolve: (info) => {
          cleanup()
          resolve(info)
        },
        reject: (err) => {
          cleanup()
          reject(err)
        },
      }
      const giveUp = (err: Error) => {
        if (!tracked.waiters.delete(waiter)) return
        waiter.reject(err)
        this.forgetIfUnwatched(tracked)
      }
      const onAbort = () => giveUp(abortReason(opts.signal))
      if (opts.signal?.aborted) {
        reject(abortReason(opts.signal))
        this.forgetIfUnwatched(tracked)
        return
      }
      tracked.waiters.add(waiter)
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => giveUp(new TaskWatchTimeoutError(task, opts.timeoutMs!)), opts.timeoutMs)
      }
      if (tracked.inView) this.ensureLoop()
    })
  }

  // ---- what the later layers do -----------------------------------------------------------

  /** Sends the queued changes to the view soon, in one batch (task-batch.ts). */
  protected abstract scheduleFlush(): void
  /** Runs the update loop if a task in the view is waited for (task-update-loop.ts). */
  protected abstract ensureLoop(): void

  // ---- bookkeeping --------------------------------------------------------------------------

  protected finish(t: Tracked, info: TaskInfo): void {
    t.final = info
    if (this.onTaskFinished && (info.state === 'success' || info.state === 'error')) {
      try {
        this.onTaskFinished({ descriptionId: info.descriptionId, state: info.state, durationMs: performance.now() - t.since })
      } catch {
        // an observer's failure is not the task's
      }
    }
    const waiters = [...t.waiters]
    t.waiters.clear()
    for (const w of waiters) {
      if (info.state === 'success') w.resolve(info)
      else w.reject(new TaskFailedError(info))
    }
    if (t.inView) {
      this.toRemove.set(t.ref.value, t.ref)
      if (this.toRemove.size >= REMOVE_BATCH) this.scheduleFlush()
    } else {
      this.forgetFinished(t)
    }
  }

  protected forgetFinished(t: Tracked): void {
    this.tracked.delete(t.ref.value)
    if (!t.final) return
    this.completed.set(t.ref.value, t.final)
    if (this.completed.size > COMPLETED_CACHE) {
      const oldest = this.completed.keys().next().value
      if (oldest !== undefined) this.completed.delete(oldest)
    }
  }

  protected vanish(t: Tracked): void {
    this.tracked.delete(t.ref.value)
    this.toAdd.delete(t.ref.value)
    this.toRemove.delete(t.ref.value)
    const waiters = [...t.waiters]
    t.waiters.clear()
    for (const w of waiters) w.reject(new TaskVanishedError(t.ref))
  }

  protected rejectAll(err: Error): void {
    for (const t of [...this.tracked.values()]) {
      if (t.final) continue
      const waiters = [...t.waiters]
      t.waiters.clear()
      for (const w of waiters) w.reject(err)
      this.forgetIfUnwatched(t)
    }
  }

  /** A task nobody waits for any more: stop tracking it (it leaves the view with the next batch). */
  private forgetIfUnwatched(t: Tracked): void {
    if (t.waiters.size > 0 || t.final) return
    if (this.toAdd.delete(t.ref.value) || !t.inView) {
      this.tracked.delete(t.ref.value)
    } else {
      this.toRemove.set(t.ref.value, t.ref)
    }
  }
}

function settled(info: TaskInfo): Promise<TaskInfo> {
  return info.state === 'success' ? Promise.resolve(info) : Promise.reject(new TaskFailedError(info))
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  if (reason instanceof Error) return reason
  const err = new Error('task watch aborted')
  err.name = 'AbortError'
  return err
}
