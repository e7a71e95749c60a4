// One watcher for every task in flight on a vCenter session (instead of a polling loop per task).
//
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

import { decodeTaskInfo } from './decode.js'
import * as methods from './methods.js'
import { VimFault, faultObject, isFault } from './soap/faults.js'
import type { RoundTripper, VimLogger } from './soap/transport.js'
import { isObject, str } from './soap/values.js'
import type { MoRef, ObjectUpdate, PropertyChange, ServiceContent, TaskInfo, UpdateSet } from './types.js'

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
}

/** What the watcher needs from the session: its login generation. */
export interface SessionGeneration {
  readonly generation: number
}

/** Task info paths we watch. Not `info` as a whole: progress updates would wake the loop. */
const TASK_PATHS = [
  'info.key',
  'info.descriptionId',
  'info.entity',
  'info.entityName',
  'info.state',
  'info.error',
  'info.result',
]
/** Finished tasks to leave in the view before a ModifyListView just for removing them. */
const REMOVE_BATCH = 100
const COMPLETED_CACHE = 1000

interface Waiter {
  resolve(info: TaskInfo): void
  reject(err: Error): void
}

interface Tracked {
  ref: MoRef
  /** TaskInfo fields as last reported (merged changes), keyed relative to `info`. */
  fields: Record<string, unknown>
  waiters: Set<Waiter>
  inView: boolean
  /** The final info once the task succeeded or failed. */
  final?: TaskInfo
}

interface Infra {
  generation: number
  collector: MoRef
  view: MoRef
  filter: MoRef
}

/** The collector being created belongs to a session or epoch that has been replaced. */
class StaleCollectorError extends Error {
  override name = 'StaleCollectorError'
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export class TaskWatcher {
  private readonly maxWaitSeconds: number
  private readonly minWaitIntervalMs: number
  private readonly batchDelayMs: number
  private readonly checkBeforeWatching: boolean
  private readonly maxFailures: number
  private readonly logger: VimLogger | undefined

  private readonly tracked = new Map<string, Tracked>()
  private readonly toAdd = new Map<string, MoRef>()
  private readonly toRemove = new Map<string, MoRef>()
  /** Final infos of tasks already removed from the view: re-watching them costs no call. */
  private readonly completed = new Map<string, TaskInfo>()

  private infra: Infra | undefined
  private infraPromise: Promise<Infra> | undefined
  /** Bumped by invalidate(): a collector still being created for an older epoch is discarded. */
  private infraEpoch = 0
  private version = ''
  private flushScheduled = false
  private flushRunning = false
  private flushAgain = false
  private flushFailures = 0
  private loopInfra: Infra | undefined
  private waitInFlight = false
  private closed = false

  constructor(
    private readonly rt: RoundTripper,
    private readonly content: () => ServiceContent,
    private readonly session: SessionGeneration,
    opts: TaskWatcherOptions = {},
  ) {
    this.maxWaitSeconds = opts.maxWaitSeconds ?? 60
    this.minWaitIntervalMs = opts.minWaitIntervalMs ?? 250
    this.batchDelayMs = opts.batchDelayMs ?? 25
    this.checkBeforeWatching = opts.checkBeforeWatching ?? true
    this.maxFailures = opts.maxConsecutiveFailures ?? 5
    this.logger = opts.logger
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
        t = { ref: { type: task.type, value: task.value }, fields: {}, waiters: new Set(), inView: false }
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

  // ---- bookkeeping --------------------------------------------------------------------------

  /** A task nobody waits for any more: stop tracking it (it leaves the view with the next batch). */
  private forgetIfUnwatched(t: Tracked): void {
    if (t.waiters.size > 0 || t.final) return
    if (this.toAdd.delete(t.ref.value) || !t.inView) {
      this.tracked.delete(t.ref.value)
    } else {
      this.toRemove.set(t.ref.value, t.ref)
    }
  }

  private finish(t: Tracked, info: TaskInfo): void {
    t.final = info
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

  private forgetFinished(t: Tracked): void {
    this.tracked.delete(t.ref.value)
    if (!t.final) return
    this.completed.set(t.ref.value, t.final)
    if (this.completed.size > COMPLETED_CACHE) {
      const oldest = this.completed.keys().next().value
      if (oldest !== undefined) this.completed.delete(oldest)
    }
  }

  private vanish(t: Tracked): void {
    this.tracked.delete(t.ref.value)
    this.toAdd.delete(t.ref.value)
    this.toRemove.delete(t.ref.value)
    const waiters = [...t.waiters]
    t.waiters.clear()
    for (const w of waiters) w.reject(new TaskVanishedError(t.ref))
  }

  /** The session changed: its collector and view are gone. Re-add every unfinished task. */
  private invalidate(reason: string): void {
    if (!this.infra && !this.infraPromise) return
    this.logger?.info({ reason, tasks: this.tracked.size }, 'vim25 task watcher: recreating its collector')
    this.infra = undefined
    this.infraPromise = undefined
    this.infraEpoch++
    this.version = ''
    this.toRemove.clear()
    for (const t of [...this.tracked.values()]) {
      if (t.final) {
        this.forgetFinished(t)
      } else if (t.waiters.size === 0) {
        this.tracked.delete(t.ref.value)
      } else {
        t.inView = false
        t.fields = {}
        this.toAdd.set(t.ref.value, t.ref)
      }
    }
    this.scheduleFlush()
  }

  private rejectAll(err: Error): void {
    for (const t of [...this.tracked.values()]) {
      if (t.final) continue
      const waiters = [...t.waiters]
      t.waiters.clear()
      for (const w of waiters) w.reject(err)
      this.forgetIfUnwatched(t)
    }
  }

  // ---- the view: batched ModifyListView -------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return
    this.flushScheduled = true
    const run = () => {
      this.flushScheduled = false
      void this.flush()
    }
    if (this.batchDelayMs > 0) setTimeout(run, this.batchDelayMs)
    else setImmediate(run)
  }

  private async flush(): Promise<void> {
    if (this.flushRunning) {
      this.flushAgain = true // picked up when the running flush ends: batches grow under load
      return
    }
    this.flushRunning = true
    try {
      do {
        this.flushAgain = false
        await this.flushOnce()
      } while (this.flushAgain && !this.closed)
    } finally {
      this.flushRunning = false
    }
  }

  private async flushOnce(): Promise<void> {
    if (this.closed) return
    if (this.toAdd.size === 0 && this.toRemove.size < REMOVE_BATCH) {
      this.ensureLoop()
      return
    }

    let infra: Infra
    try {
      infra = await this.ensureInfra()
    } catch (err) {
      if (err instanceof StaleCollectorError) {
        this.flushAgain = true // a new session: just try again
        return
      }
      await this.flushFailed(err as Error)
      return
    }
    if (this.closed) return

    const batch = [...this.toAdd.values()]
    this.toAdd.clear()
    const add = this.checkBeforeWatching ? await this.settleFinished(batch) : batch
    if (this.infra !== infra || this.closed) {
      for (const r of add) if (this.tracked.has(r.value)) this.toAdd.set(r.value, r)
      return
    }
    if (add.length === 0 && this.toRemove.size < REMOVE_BATCH) {
      this.ensureLoop()
      return
    }
    // Removals ride along with additions; alone they wait for a big enough batch.
    const remove = add.length > 0 || this.toRemove.size >= REMOVE_BATCH ? [...this.toRemove.values()] : []
    for (const r of remove) this.toRemove.delete(r.value)

    try {
      const notAdded = await methods.ModifyListView(this.rt, { _this: infra.view, add, remove })
      this.flushFailures = 0
      if (this.infra !== infra) return // invalidated meanwhile: everything was re-queued
      for (const r of remove) {
        const t = this.tracked.get(r.value)
        if (t && (t.final || t.waiters.size === 0)) {
          this.forgetFinished(t)
        } else if (t) {
          t.inView = false // watched again while leaving: add it back
          this.toAdd.set(r.value, r)
        }
      }
      const missing = new Set(notAdded.map((r) => r.value))
      for (const r of add) {
        const t = this.tracked.get(r.value)
        if (!t) {
          this.toRemove.set(r.value, r) // given up on while being added
          continue
        }
        if (missing.has(r.value)) this.vanish(t)
        else t.inView = true
      }
      if (this.toAdd.size > 0) this.flushAgain = true
    } catch (err) {
      if (this.infra !== infra || this.closed) return
      const missingObj = isFault(err, 'ManagedObjectNotFound') ? faultObject(err) : undefined
      const missingTask = missingObj && add.find((r) => r.value === missingObj.value)
      if (missingTask) {
        // vcsim faults the whole call for one vanished task (vCenter returns it in notAdded).
        const t = this.tracked.get(missingTask.value)
        for (const r of add) if (r.value !== missingTask.value && this.tracked.has(r.value)) this.toAdd.set(r.value, r)
        for (const r of remove) this.toRemove.set(r.value, r)
        if (t) this.vanish(t)
        this.flushAgain = true
        return
      }
      for (const r of add) if (this.tracked.has(r.value)) this.toAdd.set(r.value, r)
      for (const r of remove) this.toRemove.set(r.value, r)
      const sessionGone =
        this.session.generation !== infra.generation ||
        isFault(err, 'ManagedObjectNotFound') ||
        isFault(err, 'NotAuthenticated')
      if (sessionGone) {
        this.invalidate(`ModifyListView: ${(err as Error).message}`)
        return
      }
      await this.flushFailed(err as Error)
      return
    }
    this.ensureLoop()
  }

  /**
   * Reads the state of a new batch of tasks once, in one call, and settles those already finished:
   * short tasks (and every task of a simulator) are often done by the time their method returns,
   * and waiting for the collector to report them would add its batching delay to each. Returns the
   * tasks still to watch. A failed read changes nothing: the view reports them all.
   */
  private async settleFinished(batch: MoRef[]): Promise<MoRef[]> {
    if (batch.length === 0) return batch
    try {
      const result = await methods.RetrievePropertiesEx(this.rt, {
        _this: this.content().propertyCollector,
        specSet: [
          {
            propSet: [{ type: 'Task', pathSet: TASK_PATHS }],
            objectSet: batch.map((obj) => ({ obj, skip: false })),
            reportMissingObjectsInResults: true,
          },
        ],
      })
      for (const o of result.objects) {
        const t = this.tracked.get(o.obj.value)
        if (!t || t.final || o.missingSet.length > 0) continue
        const fields: Record<string, unknown> = {}
        for (const p of o.propSet) applyChange(fields, { name: p.name, op: 'assign', val: p.val })
        const state = str(fields.state)
        if (state === 'success' || state === 'error') this.finish(t, decodeTaskInfo(t.ref, fields))
      }
    } catch (err) {
      this.logger?.debug({ err: (err as Error).message }, 'vim25 task watcher: reading new tasks failed')
    }
    return batch.filter((r) => {
      const t = this.tracked.get(r.value)
      return t !== undefined && !t.final
    })
  }

  private async flushFailed(err: Error): Promise<void> {
    this.flushFailures++
    this.logger?.warn({ err: err.message, failures: this.flushFailures }, 'vim25 task watcher: adding tasks failed')
    if (this.flushFailures >= this.maxFailures) {
      this.flushFailures = 0
      for (const key of [...this.toAdd.keys()]) {
        const t = this.tracked.get(key)
        this.toAdd.delete(key)
        if (!t) continue
        const waiters = [...t.waiters]
        t.waiters.clear()
        this.tracked.delete(key)
        for (const w of waiters) w.reject(err)
      }
      return
    }
    await sleep(Math.min(30_000, 500 * 2 ** this.flushFailures))
    this.flushAgain = true
  }

  private ensureInfra(): Promise<Infra> {
    if (this.infra && this.infra.generation !== this.session.generation) this.invalidate('session changed')
    if (this.infra) return Promise.resolve(this.infra)
    if (!this.infraPromise) {
      const p: Promise<Infra> = this.createInfra(this.infraEpoch).finally(() => {
        if (this.infraPromise === p) this.infraPromise = undefined
      })
      this.infraPromise = p
    }
    return this.infraPromise
  }

  private async createInfra(epoch: number): Promise<Infra> {
    const generation = this.session.generation
    const content = this.content()
    const collector = await methods.CreatePropertyCollector(this.rt, { _this: content.propertyCollector })
    const view = await methods.CreateListView(this.rt, { _this: content.viewManager })
    const filter = await methods.CreateFilter(this.rt, {
      _this: collector,
      spec: {
        propSet: [{ type: 'Task', pathSet: TASK_PATHS }],
        objectSet: [
          {
            obj: view,
            skip: true,
            selectSet: [{ _type: 'TraversalSpec', type: 'ListView', path: 'view', skip: false }],
          },
        ],
      },
      partialUpdates: false,
    })
    if (this.session.generation !== generation || epoch !== this.infraEpoch || this.closed) {
      // Superseded while being created (re-login, invalidation, close).
      if (this.session.generation === generation) {
        const quiet = { timeoutMs: 10_000 }
        await methods.DestroyView(this.rt, { _this: view }, quiet).catch(() => undefined)
        await methods.DestroyPropertyCollector(this.rt, { _this: collector }, quiet).catch(() => undefined)
      }
      throw new StaleCollectorError()
    }
    this.infra = { generation, collector, view, filter }
    this.version = ''
    return this.infra
  }

  // ---- the WaitForUpdatesEx loop ---------------------------------------------------------------

  private needsLoop(): boolean {
    for (const t of this.tracked.values()) if (t.inView && !t.final && t.waiters.size > 0) return true
    return false
  }

  private ensureLoop(): void {
    if (this.closed || this.loopInfra || !this.infra || !this.needsLoop()) return
    const infra = this.infra
    this.loopInfra = infra
    void this.runLoop(infra).finally(() => {
      this.loopInfra = undefined
      if (this.infra === infra) this.ensureLoop() // tasks may have arrived as it stopped
    })
  }

  private async runLoop(infra: Infra): Promise<void> {
    let failures = 0
    let lastStart = 0
    while (!this.closed && this.infra === infra && this.needsLoop()) {
      if (this.session.generation !== infra.generation) {
        this.invalidate('session changed')
        return
      }
      const pause = lastStart + this.minWaitIntervalMs - Date.now()
      if (lastStart > 0 && pause > 0) await sleep(pause)
      if (this.closed || this.infra !== infra) return
      lastStart = Date.now()

      let set: UpdateSet | undefined
      this.waitInFlight = true
      try {
        set = await methods.WaitForUpdatesEx(this.rt, {
          _this: infra.collector,
          version: this.version,
          options: { maxWaitSeconds: this.maxWaitSeconds },
        })
        failures = 0
      } catch (err) {
        if (this.closed || this.infra !== infra) return
        if (
          this.session.generation !== infra.generation ||
          isFault(err, 'NotAuthenticated') ||
          isFault(err, 'ManagedObjectNotFound')
        ) {
          this.invalidate(`WaitForUpdatesEx: ${(err as Error).message}`)
          return
        }
        if (isFault(err, 'RequestCanceled')) continue
        if (isFault(err, 'InvalidCollectorVersion')) {
          this.version = '' // start over from the current state
          continue
        }
        failures++
        this.logger?.warn({ err: (err as Error).message, failures }, 'vim25 task watcher: WaitForUpdatesEx failed')
        if (failures >= this.maxFailures) {
          this.rejectAll(err as Error)
          return
        }
        await sleep(Math.min(30_000, 500 * 2 ** failures))
        continue
      } finally {
        this.waitInFlight = false
      }
      if (this.closed || this.infra !== infra) return
      if (set) {
        this.version = set.version
        this.apply(set, infra)
        if (set.truncated) lastStart = 0 // more is waiting: no pause
      }
    }
  }

  private apply(set: UpdateSet, infra: Infra): void {
    for (const fu of set.filterSet) {
      if (fu.filter.value !== infra.filter.value) continue
      for (const ou of fu.objectSet) this.applyObjectUpdate(ou)
      for (const mo of fu.missingSet) {
        const t = this.tracked.get(mo.obj.value)
        if (t && !t.final) this.vanish(t)
      }
    }
  }

  private applyObjectUpdate(ou: ObjectUpdate): void {
    const t = this.tracked.get(ou.obj.value)
    if (!t || t.final) return
    if (ou.kind === 'leave') {
      // We did not remove it (or removed it and it was watched again since): add it back.
      // If the task object is gone, ModifyListView says so and the task vanishes there.
      t.inView = false
      t.fields = {}
      if (t.waiters.size === 0) {
        this.tracked.delete(t.ref.value)
      } else {
        this.toAdd.set(t.ref.value, t.ref)
        this.scheduleFlush()
      }
      return
    }
    for (const c of ou.changeSet) applyChange(t.fields, c)
    if (ou.missingSet.some((m) => m.faultType === 'ManagedObjectNotFound')) {
      this.vanish(t)
      return
    }
    const state = str(t.fields.state)
    if (state === 'success' || state === 'error') this.finish(t, decodeTaskInfo(t.ref, t.fields))
  }
}

/** Merges one PropertyChange (path relative to the Task, e.g. `info.state`) into TaskInfo fields. */
function applyChange(fields: Record<string, unknown>, c: PropertyChange): void {
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
