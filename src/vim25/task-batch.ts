// Adding tasks to the view: every watch() within batchDelayMs goes into one ModifyListView (with the
// removal of tasks that finished meanwhile), after one read that settles tasks already finished.

import { decodeTaskInfo } from './decode.js'
import * as methods from './methods.js'
import { faultObject, isFault } from './soap/faults.js'
import { str } from './soap/values.js'
import { StaleCollectorError, TaskCollector } from './task-collector.js'
import { REMOVE_BATCH, TASK_PATHS, applyChange, sleep, type Infra } from './task-types.js'
import type { MoRef } from './types.js'

/** The third layer of TaskWatcher: the view's batched changes. */
export abstract class TaskBatch extends TaskCollector {
  private flushScheduled = false
  private flushRunning = false
  private flushAgain = false
  private flushFailures = 0

  protected scheduleFlush(): void {
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
}
