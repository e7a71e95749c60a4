/**
 * Pools: the service and the drift reconciler; the handlers of destroy, expiry and reconcile jobs and
 * of the scheduled drift check of every active pool (DRIFT_CHECK_MINUTES; schedules are declared in
 * src/jobs/queues.ts); and a start-up sweep of expired pools.
 */
import fp from 'fastify-plugin'
import type { Limits } from '../../config/config.js'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { QUEUES } from '../../jobs/queues.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import { CloneDestroyer } from './destroy-clone-job.js'
import { driftCheckJob } from './drift-check-job.js'
import { expirePoolJob } from './expire-pool-job.js'
import { PoolReconciler } from './pool-reconciler.js'
import { PoolService } from './pool-service.js'
import { PoolRepairer } from './reconcile-pool-job.js'

declare module 'fastify' {
  interface FastifyInstance {
    pools: PoolService
    poolRepository: PoolRepository
    reconciler: PoolReconciler
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
    const driftLog = app.log.child({ component: 'drift' })
    const reconciler = new PoolReconciler(repository, app.repositories.clones, app.repositories.drift, app.repositories.deployments, app.deployments, app.vcenter, app.boss, driftLog)
    app.decorate('reconciler', reconciler)
    if (!opts.runWorkers) return

    const log = app.log.child({ component: 'pools' })
    const repairer = new PoolRepairer(app.repositories.cloneSteps, app.repositories.drift, app.vcenter, driftLog, app.jobOwnership)
    await app.jobs.register(QUEUES.reconcilePool, (job) => repairer.run(job.data, attemptOf(job)))
    await app.jobs.register(QUEUES.driftCheck, driftCheckJob(reconciler))
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
