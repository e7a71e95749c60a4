// The one WaitForUpdatesEx long-poll loop for every task in the view: it runs while tasks are waited
// for, and settles them as the collector reports their changes.

import { decodeTaskInfo } from './decode.js'
import * as methods from './methods.js'
import { isFault } from './soap/faults.js'
import { str } from './soap/values.js'
import { TaskBatch } from './task-batch.js'
import { applyChange, sleep, type Infra } from './task-types.js'
import type { ObjectUpdate, UpdateSet } from './types.js'

/** The fourth layer of TaskWatcher: the update loop. */
export abstract class TaskUpdateLoop extends TaskBatch {
  private loopInfra: Infra | undefined
  protected waitInFlight = false

  protected ensureLoop(): void {
    if (this.closed || this.loopInfra || !this.infra || !this.needsLoop()) return
    const infra = this.infra
    this.loopInfra = infra
    void this.runLoop(infra).finally(() => {
      this.loopInfra = undefined
      if (this.infra === infra) this.ensureLoop() // tasks may have arrived as it stopped
    })
  }

  private needsLoop(): boolean {
    for (const t of this.tracked.values()) if (t.inView && !t.final && t.waiters.size > 0) return true
    return false
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
