/**
 * Asset records: the attribute store (built with the repositories, src/db/database-plugin.ts), its
 * secrets sealed at rest before any job runs; the attribute service the routes use; and the sync from
 * vCenter, scheduled with pg-boss (ATTRIBUTE_SYNC_MINUTES, declared in src/jobs/queues.ts) and run by
 * this process's workers.
 *
 * For GraphQL: app.assets.attributes has getClone / pageClones / history / setAttributes, and the
 * batch reads GraphQL's loaders use (attributesOf, vanishedSince, historyPages, historyCounts).
 */
import fp from 'fastify-plugin'
import { QUEUES } from '../../jobs/queues.js'
import { AttributeService } from './attribute-service.js'
import type { AttributeStore } from '../../db/repositories/attributes.js'
import { AttributeSync } from './attribute-sync.js'
import { attributeSyncJob } from './attribute-sync-job.js'

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
  /** False for an API-only process: it neither runs nor schedules the sync. */
  runWorkers: boolean
}

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
    // Scheduled every ATTRIBUTE_SYNC_MINUTES (0: no schedule; the sync still runs on demand: app.assets.sync.run()).
    await app.jobs.register(QUEUES.attributeSync, attributeSyncJob(sync))
  },
  { name: 'assets', dependencies: ['database', 'queue', 'vcenter'] },
)
