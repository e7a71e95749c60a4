/**
 * Drift: the reconciler, and the handlers of reconcile deployments' jobs and of the scheduled drift
 * check of every active pool (DRIFT_CHECK_MINUTES; its schedule is declared in src/jobs/queues.ts).
 */
import fp from 'fastify-plugin'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { QUEUES } from '../../jobs/queues.js'
import { driftCheckJob } from './drift-check-job.js'
import { PoolRepairer } from './reconcile-pool-job.js'
import { PoolReconciler } from './pool-reconciler.js'

declare module 'fastify' {
  interface FastifyInstance {
    reconciler: PoolReconciler
  }
}

export interface PoolDriftPluginOptions {
  /** False for an API-only process: it neither runs the jobs nor schedules the check. */
  runWorkers: boolean
}

export default fp(
  async function poolDriftPlugin(app, opts: PoolDriftPluginOptions) {
    const repository = app.repositories.drift
    const log = app.log.child({ component: 'drift' })
    const reconciler = new PoolReconciler(app.poolRepository, app.repositories.clones, repository, app.repositories.deployments, app.deployments, app.vcenter, app.boss, log)
    app.decorate('reconciler', reconciler)
    if (!opts.runWorkers) return

    const repairer = new PoolRepairer(app.repositories.cloneSteps, repository, app.vcenter, log, app.jobOwnership)
    await app.jobs.register(QUEUES.reconcilePool, (job) => repairer.run(job.data, attemptOf(job)))
    await app.jobs.register(QUEUES.driftCheck, driftCheckJob(reconciler))
  },
  { name: 'pool-drift', dependencies: ['database', 'queue', 'vcenter', 'deployments', 'pools'] },
)
