/** Parents: the preparation service and its workers (`recompose: true` recomposes through PoolService). */
import fp from 'fastify-plugin'
import type { ParentRepository } from '../../db/repositories/parents.js'
import { PREPARE_PARENT_QUEUE, PREPARE_RETRY, ParentPreparer, type PrepareParentData } from './prepare-parent-job.js'
import { ensureQueue } from '../../jobs/queue.js'
import { ParentService } from './parent-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    parents: ParentService
    parentRepository: ParentRepository
  }
}

export interface ParentsPluginOptions {
  databaseUrl: string
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function parentsPlugin(app, opts: ParentsPluginOptions) {
    const repository = app.repositories.parents
    app.decorate('parents', new ParentService(repository, app.repositories.clones, app.vcenter, app.boss))
    app.decorate('parentRepository', repository)
    await ensureQueue(opts.databaseUrl, app.boss, { name: PREPARE_PARENT_QUEUE, ...PREPARE_RETRY })
    if (!opts.runWorkers) return

    const log = app.log.child({ component: 'parents' })
    const preparer = new ParentPreparer(repository, app.poolRepository, app.vcenter, app.pools, log, app.jobOwnership)
    await app.work<PrepareParentData>(
      PREPARE_PARENT_QUEUE,
      { batchSize: 1, pollingIntervalSeconds: 1 },
      async ([job]) => {
        if (job) await preparer.run(job.data.preparationId, { lastAttempt: job.retryCount >= job.retryLimit })
      },
    )
  },
  { name: 'parents', dependencies: ['database', 'queue', 'vcenter', 'pools'] },
)
