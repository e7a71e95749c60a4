/** Deployments: the service that accepts them, and the workers that carry them out. */
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import type { Limits } from '../../config/config.js'
import { OperationLimiter } from '../../jobs/operation-limiter.js'
import { CloneProvisioner } from './provision-clone-job.js'
import { JobReaper } from '../../jobs/reaper.js'
import { PgListener } from '../../db/notifications.js'
import { JOBS_QUEUED, QUEUES, stopQueue, type ProvisionCloneData } from '../../jobs/queue.js'
import { DeploymentService } from './deployment-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    deployments: DeploymentService
  }
}

export interface DeploymentsPluginOptions {
  databaseUrl: string
  limits: Limits
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function deploymentsPlugin(app, opts: DeploymentsPluginOptions) {
    const { deployments, clones, cloneSteps } = app.repositories
    app.decorate('deployments', new DeploymentService(deployments, clones, cloneSteps, app.vcenter, app.boss))
    if (!opts.runWorkers) return

    // Workers of this process: as many as vCenter takes at once, plus standbys that hold the next
    // jobs already fetched and waiting on the limiter, so that a freed slot is taken at once rather
    // than after a worker finishes its clone's attribute writes and fetches again. The limits
    // themselves are enforced across all replicas by the limiter, whatever the number of workers.
    const workers = workerCount(opts.limits)
    const listener = new PgListener(opts.databaseUrl)
    const limiter = new OperationLimiter(opts.databaseUrl, workers, listener)
    await limiter.start()
    const shutdown = new AbortController()
    // Every worker waiting for a slot or for vCenter listens to it (and stops listening when done).
    setMaxListeners(2 * workers, shutdown.signal)
    const provisioner = new CloneProvisioner(
      cloneSteps,
      app.vcenter,
      app.log.child({ component: 'provisioner' }),
      limiter,
      opts.limits,
      shutdown.signal,
    )
    const reaper = new JobReaper(app.database.pool, app.boss, app.log.child({ component: 'reaper' }))
    reaper.start()
    app.addHook('onClose', async () => {
      // Running jobs hold slots: let them finish (the queue's graceful stop) before the limiter goes.
      shutdown.abort()
      await reaper.stop()
      await stopQueue(app.boss)
      await limiter.close()
      await listener.close()
    })
    const workerIds: string[] = []
    for (let i = 0; i < workers; i++) {
      const id = await app.work<ProvisionCloneData>(
        QUEUES.provisionClone,
        { batchSize: 1, pollingIntervalSeconds: 0.5 },
        async ([job]) => {
          if (job) await provisioner.run(job.data.cloneId, { attempt: job.retryCount, lastAttempt: job.retryCount >= job.retryLimit })
        },
      )
      workerIds.push(id)
    }
    // Idle workers poll every half second; a new deployment in any replica wakes them at once.
    await listener.on(JOBS_QUEUED, () => {
      for (const id of workerIds) app.boss.notifyWorker(id)
    })
  },
  { name: 'deployments', dependencies: ['database', 'queue', 'vcenter'] },
)

/** The limit per vCenter, plus half as many standbys. */
export function workerCount(limits: Limits): number {
  return limits.perVcenter + Math.ceil(limits.perVcenter / 2)
}
