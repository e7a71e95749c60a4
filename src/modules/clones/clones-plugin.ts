/**
 * Asset records: the attribute store (built with the repositories, src/db/database-plugin.ts), its
 * secrets sealed at rest before any job runs; the attribute service the routes use; and the sync from
 * vCenter, scheduled with pg-boss (ATTRIBUTE_SYNC_MINUTES) and run by this process's workers.
 *
 * For GraphQL: app.assets.attributes has getClone / pageClones / history / setAttributes, and the
 * batch reads GraphQL's loaders use (attributesOf, vanishedSince, historyPages, historyCounts).
 */
import fp from 'fastify-plugin'
import { ensureQueue } from '../../jobs/queue.js'
import { AttributeService } from './attribute-service.js'
import type { AttributeStore } from '../../db/repositories/attributes.js'
import { AttributeSync } from './attribute-sync.js'

declare module 'fastify' {
  interface FastifyInstance {
    assets: {
      store: AttributeStore
      attributes: AttributeService
      sync: AttributeSync
    }
  }
}

export interface AssetsPluginOptions {
  databaseUrl: string
  /** 0: no schedule (the sync still runs on demand: app.assets.sync.run()). */
  syncMinutes: number
  /** False for an API-only process: it neither runs nor schedules the sync. */
  runWorkers: boolean
}

export const SYNC_QUEUE = 'attribute-sync'

export default fp(
  async function assetsPlugin(app, opts: AssetsPluginOptions) {
    const store = app.repositories.attributes
    const sealed = await store.sealAtRest()
    if (sealed > 0) app.log.info({ values: sealed }, 'sealed secrets stored in plain text or under a previous key')

    const log = app.log.child({ component: 'attributes' })
    const attributes = new AttributeService(store, app.repositories.clones, app.vcenter, log)
    const sync = new AttributeSync(app.repositories.clones, store, app.vcenter, log)
    app.decorate('assets', { store, attributes, sync })

    if (!opts.runWorkers) return
    // stately: at most one sync queued and one running, across every replica.
    await ensureQueue(opts.databaseUrl, app.boss, { name: SYNC_QUEUE, policy: 'stately', retryLimit: 0, expireInSeconds: 15 * 60 })
    await app.work(SYNC_QUEUE, { pollingIntervalSeconds: 5 }, async () => {
      await sync.run()
    })
    if (opts.syncMinutes > 0) await app.boss.schedule(SYNC_QUEUE, everyMinutesCron(opts.syncMinutes))
    else await app.boss.unschedule(SYNC_QUEUE)
  },
  { name: 'assets', dependencies: ['database', 'queue', 'vcenter'] },
)

/** Every `minutes` (1..60) past the hour, as a cron expression. */
export function everyMinutesCron(minutes: number): string {
  return minutes >= 60 ? '0 * * * *' : `*/${minutes} * * * *`
}
