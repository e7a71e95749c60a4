/** Parents: the preparation service and the handler of its jobs (`recompose: true` recomposes through PoolService). */
import fp from 'fastify-plugin'
import type { ParentRepository } from '../../db/repositories/parents.js'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { QUEUES } from '../../jobs/queues.js'
import { ParentPreparer } from './prepare-parent-job.js'
import { ParentService } from './parent-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    parents: ParentService
    parentRepository: ParentRepository
  }
}

export interface ParentsPluginOptions {
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function parentsPlugin(app, opts: ParentsPluginOptions) {
    const repository = app.repositories.parents
    app.decorate('parents', new ParentService(repository, app.repositories.clones, app.vcenter, app.boss))
    app.decorate('parentRepository', repository)
    if (!opts.runWorkers) return

    const log = app.log.child({ component: 'parents' })
    const preparer = new ParentPreparer(repository, app.poolRepository, app.vcenter, app.pools, log, app.jobOwnership)
    await app.jobs.register(QUEUES.prepareParent, (job) => preparer.run(job.data.preparationId, attemptOf(job)))
  },
  { name: 'parents', dependencies: ['database', 'queue', 'vcenter', 'pools'] },
)
