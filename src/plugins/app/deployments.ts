/** Deployments: the service that accepts them, and the workers that carry them out. */
import fp from 'fastify-plugin'
import { CloneProvisioner } from '../../jobs/provision-clone.js'
import { QUEUES, type ProvisionCloneData } from '../../jobs/queue.js'
import { DeploymentService } from '../../services/deployment-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    deployments: DeploymentService
  }
}

export interface DeploymentsPluginOptions {
  /** Clone jobs this process runs at once. */
  concurrency: number
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function deploymentsPlugin(app, opts: DeploymentsPluginOptions) {
    app.decorate('deployments', new DeploymentService(app.repositories.deployments, app.vcenter, app.boss))
    if (!opts.runWorkers) return

    const provisioner = new CloneProvisioner(
      app.repositories.deployments,
      app.vcenter,
      app.log.child({ component: 'provisioner' }),
    )
    // pg-boss 10 runs one job at a time per worker: register as many workers as jobs we allow at once.
    for (let i = 0; i < opts.concurrency; i++) {
      await app.boss.work<ProvisionCloneData>(
        QUEUES.provisionClone,
        { batchSize: 1, pollingIntervalSeconds: 0.5, includeMetadata: true },
        async ([job]) => {
          if (job) await provisioner.run(job.data.cloneId, { attempt: job.retryCount, lastAttempt: job.retryCount >= job.retryLimit })
        },
      )
    }
  },
  { name: 'deployments', dependencies: ['database', 'queue', 'vcenter'] },
)
