// The task watcher's PropertyCollector, ListView and filter ("infra"): made once per session, made
// again (every unfinished task re-queued) when the session changes.

import * as methods from './methods.js'
import { TASK_PATHS, type Infra } from './task-types.js'
import { TaskWaiters } from './task-waiters.js'

/** The collector being created belongs to a session or epoch that has been replaced. */
export class StaleCollectorError extends Error {
  override name = 'StaleCollectorError'
}

/** The second layer of TaskWatcher: the collector and view that the batches and the loop use. */
export abstract class TaskCollector extends TaskWaiters {
  protected infra: Infra | undefined
  protected infraPromise: Promise<Infra> | undefined
  /** Bumped by invalidate(): a collector still being created for an older epoch is discarded. */
  private infraEpoch = 0
  protected version = ''

  /** The session changed: its collector and view are gone. Re-add every unfinished task. */
  protected invalidate(reason: string): void {
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

  protected ensureInfra(): Promise<Infra> {
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
}
