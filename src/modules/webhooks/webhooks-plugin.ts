/**
 * Webhooks: the subscriptions' service, wired to the outbox (every event recorded queues its fan-out
 * in its own transaction), and the handlers of the fan-out and delivery jobs.
 */
import fp from 'fastify-plugin'
import { attemptOf } from '../../jobs/queue-plugin.js'
import { withOwnership } from '../../jobs/ownership.js'
import { QUEUES, jobOwnerLockId } from '../../jobs/queues.js'
import { WebhookService } from './webhook-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: WebhookService
  }
}

export default fp(
  async function webhooksPlugin(app, opts: { runWorkers: boolean }) {
    const { config } = app
    const service = new WebhookService(
      app.repositories.webhooks!,
      app.boss,
      {
        allowedHosts: config.webhookAllowedHosts,
        retrySeconds: config.webhookRetrySeconds,
        disableAfterHours: config.webhookDisableAfterHours,
        // Registered before this plugin (app.ts); absent in an app built without it.
        onAttempt: (outcome) => app.hasDecorator('metrics') && app.metrics.webhookDeliveries.inc({ outcome }),
      },
      app.log.child({ component: 'webhooks' }),
    )
    service.connect(app.repositories.webhookOutbox)
    app.decorate('webhooks', service)
    if (!opts.runWorkers) return
    await app.jobs.register(QUEUES.webhookEvent, (job) => service.fanOut(job.data.eventId))
    // Each delivery's job holds its ownership lock (the reaper hands back a dead worker's at once).
    await app.jobs.register(QUEUES.webhookDeliver, (job) =>
      withOwnership(app.jobOwnership, jobOwnerLockId(QUEUES.webhookDeliver, job.data.deliveryId), () =>
        service.deliver(job.data.deliveryId, attemptOf(job)),
      ),
    )
  },
  { name: 'webhooks', dependencies: ['database', 'queue'] },
)
