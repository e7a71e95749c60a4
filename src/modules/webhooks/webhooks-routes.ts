import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import {
  createWebhookSchema,
  deleteWebhookSchema,
  getWebhookSchema,
  listDeliveriesSchema,
  listWebhooksSchema,
  retryDeliverySchema,
  rotateWebhookSecretSchema,
  testWebhookSchema,
  updateWebhookSchema,
  WEBHOOKS_PAGE_SIZE,
} from './webhooks-schemas.js'
import { presentDelivery, presentSubscription } from './webhook-presenters.js'
import type { WebhookCaller } from './webhook-service.js'

/** Subscriptions are their team's: its members see and manage them; an admin sees and manages all. */
function callerOf(request: FastifyRequest): WebhookCaller {
  const { sub, teams, admin } = request.principal!
  return { sub, teams, admin }
}

const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const read = app.requireScope('deployments:read')
  const write = app.requireScope('deployments:write')

  app.post('/webhooks', { schema: createWebhookSchema, onRequest: write }, async (request, reply) => {
    const { subscription, secret } = await app.webhooks.create(request.body, callerOf(request))
    // The URL and events only: the secret never reaches a log line.
    request.log.info({ webhookId: subscription.id, events: subscription.events }, 'webhook subscription created')
    return reply.code(201).header('location', `/v1/webhooks/${subscription.id}`).send({ ...presentSubscription(subscription), secret })
  })

  app.get('/webhooks', { schema: listWebhooksSchema, onRequest: read }, async (request, reply) => {
    const { limit = WEBHOOKS_PAGE_SIZE, cursor } = request.query
    const page = await app.webhooks.list(callerOf(request), limit, cursor)
    if (page.nextCursor) reply.header('link', `</v1/webhooks?limit=${limit}&cursor=${page.nextCursor}>; rel="next"`)
    return { items: page.items.map(presentSubscription), nextCursor: page.nextCursor }
  })

  app.get('/webhooks/:id', { schema: getWebhookSchema, onRequest: read }, async (request) =>
    presentSubscription(await app.webhooks.get(request.params.id, callerOf(request))),
  )

  app.patch('/webhooks/:id', { schema: updateWebhookSchema, onRequest: write }, async (request) =>
    presentSubscription(await app.webhooks.update(request.params.id, callerOf(request), request.body)),
  )

  app.delete('/webhooks/:id', { schema: deleteWebhookSchema, onRequest: write }, async (request, reply) => {
    await app.webhooks.delete(request.params.id, callerOf(request))
    return reply.code(204).send(null)
  })

  app.post('/webhooks/:id/rotate-secret', { schema: rotateWebhookSecretSchema, onRequest: write }, async (request) => {
    const secret = await app.webhooks.rotateSecret(request.params.id, callerOf(request))
    return { id: request.params.id, secret }
  })

  app.post('/webhooks/:id/test', { schema: testWebhookSchema, onRequest: write }, async (request, reply) => {
    const deliveryId = await app.webhooks.test(request.params.id, callerOf(request))
    return reply.code(202).send({ deliveryId })
  })

  app.get('/webhooks/:id/deliveries', { schema: listDeliveriesSchema, onRequest: read }, async (request, reply) => {
    const { limit = WEBHOOKS_PAGE_SIZE, cursor } = request.query
    const page = await app.webhooks.deliveries(request.params.id, callerOf(request), limit, cursor)
    if (page.nextCursor) reply.header('link', `</v1/webhooks/${request.params.id}/deliveries?limit=${limit}&cursor=${page.nextCursor}>; rel="next"`)
    return { items: page.items.map(presentDelivery), nextCursor: page.nextCursor }
  })

  app.post('/webhooks/:id/deliveries/:delivery/retry', { schema: retryDeliverySchema, onRequest: write }, async (request, reply) => {
    await app.webhooks.retryDelivery(request.params.id, request.params.delivery, callerOf(request))
    return reply.code(202).send({ deliveryId: request.params.delivery })
  })
}

export default webhookRoutes
