/** Pools: the service, the handlers of destroy and expiry jobs, and a start-up sweep of expired pools. */
import fp from 'fastify-plugin'
import type { Limits } from '../../config/config.js'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { QUEUES } from '../../jobs/queues.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import { CloneDestroyer } from './destroy-clone-job.js'
import { expirePoolJob } from './expire-pool-job.js'
import { PoolService } from './pool-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    pools: PoolService
    poolRepository: PoolRepository
  }
}

export interface PoolsPluginOptions {
  limits: Limits
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function poolsPlugin(app, opts: PoolsPluginOptions) {
    const repository = app.repositories.pools
    const service = new PoolService(repository, app.repositories.deployments, app.repositories.clones, app.deployments, app.boss)
    app.decorate('pools', service)
    app.decorate('poolRepository', repository)
    if (!opts.runWorkers) return

    const log = app.log.child({ component: 'pools' })
    // The process's limiter: its slots are the same advisory locks for destroying as for making
    // clones, so both share the limits across replicas.
    const destroyer = new CloneDestroyer(app.repositories.cloneSteps, repository, app.vcenter, log, app.jobOwnership, app.limiter, opts.limits)
    await app.jobs.register(QUEUES.destroyClone, (job) => destroyer.run(job.data.cloneId, job.data.deploymentId, attemptOf(job)))
    await app.jobs.register(QUEUES.expirePool, expirePoolJob(service, log))
    // Pools that expired while no service was running are stripped now.
    app.addHook('onReady', async () => {
      const stripped = await service.expireOverdue((pool, err) => log.warn({ pool, err }, 'stripping an expired pool failed; its job retries'))
      if (stripped.length) log.info({ pools: stripped }, 'expired pools stripped back at start')
    })
  },
  { name: 'pools', dependencies: ['database', 'queue', 'vcenter', 'deployments'] },
)
