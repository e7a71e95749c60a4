/** Pools: the service, the workers that destroy clones, and expiry (scheduled jobs plus a start-up sweep). */
import fp from 'fastify-plugin'
import type { Limits } from '../../config/config.js'
import { PgListener } from '../../db/notifications.js'
import { OperationLimiter } from '../../jobs/operation-limiter.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import { CloneDestroyer } from './destroy-clone-job.js'
import { QUEUES, type DestroyCloneData, type ExpirePoolData } from '../../jobs/queue.js'
import { PoolService } from './pool-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    pools: PoolService
    poolRepository: PoolRepository
  }
}

export interface PoolsPluginOptions {
  databaseUrl: string
  limits: Limits
  /** False for an API-only process. */
  runWorkers: boolean
  /** Destroy workers of this process: few (destroying is quick; every worker polls on pg-boss's small pool, and 20 more kept its graceful stop from ending). */
  workers: number
}

export default fp(
  async function poolsPlugin(app, opts: PoolsPluginOptions) {
    const repository = app.repositories.pools
    const service = new PoolService(repository, app.repositories.deployments, app.repositories.clones, app.deployments, app.boss)
    app.decorate('pools', service)
    app.decorate('poolRepository', repository)
    if (!opts.runWorkers) return

    const log = app.log.child({ component: 'pools' })
    // A limiter of the destroy workers' own (a connection each): its slots are the same advisory locks
    // as the clone workers', so making and destroying clones share the limits across replicas.
    const listener = new PgListener(opts.databaseUrl)
    const limiter = new OperationLimiter(opts.databaseUrl, opts.workers, listener)
    await limiter.start()
    app.addHook('onClose', async () => {
      await limiter.close()
      await listener.close()
    })
    const destroyer = new CloneDestroyer(app.repositories.cloneSteps, repository, app.vcenter, log, app.jobOwnership, limiter, opts.limits)
    for (let i = 0; i < opts.workers; i++) {
      await app.work<DestroyCloneData>(
        QUEUES.destroyClone,
        { batchSize: 1, pollingIntervalSeconds: 0.5 },
        async ([job]) => {
          if (job) await destroyer.run(job.data.cloneId, job.data.deploymentId, { lastAttempt: job.retryCount >= job.retryLimit })
        },
      )
    }
    await app.work<ExpirePoolData>(QUEUES.expirePool, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
      if (!job) return
      // A busy pool throws POOL_BUSY: pg-boss retries the job until the pool is idle.
      const outcome = await service.expire(job.data.pool)
      if (outcome === 'stripped') log.info({ pool: job.data.pool }, 'pool expired: stripped back')
    })
    // Pools that expired while no service was running are stripped now.
    app.addHook('onReady', async () => {
      const stripped = await service.expireOverdue((pool, err) => log.warn({ pool, err }, 'stripping an expired pool failed; its job retries'))
      if (stripped.length) log.info({ pools: stripped }, 'expired pools stripped back at start')
    })
  },
  { name: 'pools', dependencies: ['database', 'queue', 'vcenter', 'deployments'] },
)
