/** Deployments: the service that accepts them, and the handler of their clone jobs. */
import fp from 'fastify-plugin'
import type { Limits } from '../../config/config.js'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { QUEUES } from '../../jobs/queues.js'
import { CloneProvisioner } from './provision-clone-job.js'
import { DeploymentService } from './deployment-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    deployments: DeploymentService
  }
}

export interface DeploymentsPluginOptions {
  limits: Limits
  /** False for an API-only process. */
  runWorkers: boolean
}

export default fp(
  async function deploymentsPlugin(app, opts: DeploymentsPluginOptions) {
    const { deployments, clones, cloneSteps } = app.repositories
    app.decorate('deployments', new DeploymentService(deployments, clones, cloneSteps, app.vcenter, app.boss))
    if (!opts.runWorkers) return

    // The process's limiter (src/jobs/queue-plugin.ts) enforces the limits across all replicas; the
    // workers (src/jobs/queues.ts) include standbys that hold the next jobs, waiting on it.
    const provisioner = new CloneProvisioner(
      cloneSteps,
      app.vcenter,
      app.log.child({ component: 'provisioner' }),
      app.limiter,
      opts.limits,
      app.jobs.stopping,
      app.config.customizationTimeoutMinutes,
    )
    await app.jobs.register(QUEUES.provisionClone, (job) => provisioner.run(job.data.cloneId, attemptOf(job)))
  },
  { name: 'deployments', dependencies: ['database', 'queue', 'vcenter'] },
)
