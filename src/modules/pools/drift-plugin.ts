/**
 * Drift: the reconciler, the workers of reconcile deployments, and the scheduled drift check of every
 * active pool (DRIFT_CHECK_MINUTES; `stately`: at most one queued and one running across replicas).
 */
import fp from 'fastify-plugin'
import { everyMinutesCron } from '../clones/clones-plugin.js'
import { DRIFT_CHECK_QUEUE, PoolRepairer, RECONCILE_POOL_QUEUE, RECONCILE_RETRY, type ReconcilePoolData } from './reconcile-pool-job.js'
import { ensureQueue } from '../../jobs/queue.js'
import { PoolReconciler } from './pool-reconciler.js'

declare module 'fastify' {
  interface FastifyInstance {
    reconciler: PoolReconciler
  }
}

export interface PoolDriftPluginOptions {
  databaseUrl: string
  /** 0: no schedule (checks still run on demand). */
  checkMinutes: number
  /** False for an API-only process: it neither runs the jobs nor schedules the check. */
  runWorkers: boolean
}

export default fp(
  async function poolDriftPlugin(app, opts: PoolDriftPluginOptions) {
    const repository = app.repositories.drift
    const log = app.log.child({ component: 'drift' })
    const reconciler = new PoolReconciler(app.poolRepository, app.repositories.clones, repository, app.repositories.deployments, app.deployments, app.vcenter, app.boss, log)
    app.decorate('reconciler', reconciler)
    await ensureQueue(opts.databaseUrl, app.boss, { name: RECONCILE_POOL_QUEUE, ...RECONCILE_RETRY })
    if (!opts.runWorkers) return

    const repairer = new PoolRepairer(app.repositories.cloneSteps, repository, app.vcenter, log, app.jobOwnership)
    await app.work<ReconcilePoolData>(
      RECONCILE_POOL_QUEUE,
      { batchSize: 1, pollingIntervalSeconds: 1 },
      async ([job]) => {
        if (job) await repairer.run(job.data, { lastAttempt: job.retryCount >= job.retryLimit })
      },
    )
    await ensureQueue(opts.databaseUrl, app.boss, { name: DRIFT_CHECK_QUEUE, policy: 'stately', retryLimit: 0, expireInSeconds: 15 * 60 })
    await app.work(DRIFT_CHECK_QUEUE, { pollingIntervalSeconds: 5 }, async () => {
      await reconciler.checkAll()
    })
    if (opts.checkMinutes > 0) await app.boss.schedule(DRIFT_CHECK_QUEUE, everyMinutesCron(opts.checkMinutes))
    else await app.boss.unschedule(DRIFT_CHECK_QUEUE)
  },
  { name: 'pool-drift', dependencies: ['database', 'queue', 'vcenter', 'deployments', 'pools'] },
)
