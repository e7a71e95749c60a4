/**
 * Parents: the preparation service and its workers. `recompose: true` needs PoolService.recompose;
 * until the pool service has it, the preparation service is given none and refuses such requests
 * with 501 RECOMPOSE_UNAVAILABLE ("recompose not available").
 */
import fp from 'fastify-plugin'
import { ParentRepository } from '../../db/repositories/parents.js'
import { PREPARE_PARENT_QUEUE, PREPARE_RETRY, ParentPreparer, type PrepareParentData } from '../../jobs/prepare-parent.js'
import { ensureQueue } from '../../jobs/queue.js'
import { ParentService, type PoolRecomposer } from '../../services/parent-service.js'

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

/** PoolService.recompose when the pool service has it; undefined otherwise. */
export function poolRecomposer(pools: object): PoolRecomposer | undefined {
  const recompose = (pools as Partial<PoolRecomposer>).recompose
  return typeof recompose === 'function' ? { recompose: recompose.bind(pools) } : undefined
}

export default fp(
  async function parentsPlugin(app, opts: ParentsPluginOptions) {
    const repository = new ParentRepository(app.database)
    const recomposer = poolRecomposer(app.pools)
    app.decorate('parents', new ParentService(repository, app.vcenter, app.boss, recomposer))
    app.decorate('parentRepository', repository)
    await ensureQueue(opts.databaseUrl, app.boss, { name: PREPARE_PARENT_QUEUE, ...PREPARE_RETRY })
    if (!opts.runWorkers) return

    const preparer = new ParentPreparer(repository, app.poolRepository, app.vcenter, recomposer, app.log.child({ component: 'parents' }))
    await app.boss.work<PrepareParentData>(
      PREPARE_PARENT_QUEUE,
      { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true },
      async ([job]) => {
        if (job) await preparer.run(job.data.preparationId, { lastAttempt: job.retryCount >= job.retryLimit })
      },
    )
  },
  { name: 'parents', dependencies: ['database', 'queue', 'vcenter', 'pools'] },
)
