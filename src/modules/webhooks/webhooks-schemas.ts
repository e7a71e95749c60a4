import { Type } from '@fastify/type-provider-typebox'
import { ErrorResponse, Nullable, authErrors } from '../../http/common-schemas.js'
import { WEBHOOK_EVENT_TYPES } from '../../domain/webhooks.js'

export const WEBHOOKS_PAGE_SIZE = 100
export const MAX_WEBHOOKS_PAGE_SIZE = 1000

const tags = ['webhooks']
const EventType = Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t)))
const Events = Type.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length * 2, description: 'The events to receive' })
const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'https URL (http only for WEBHOOK_ALLOWED_HOSTS)' })
const Description = Type.String({ maxLength: 500 })
const Team = Type.String({
  minLength: 1,
  maxLength: 200,
  description: "The owning team; required when the caller is in several (otherwise the caller's only team)",
})
const Id = Type.Object({ id: Type.String({ description: "The subscription's id" }) }, { additionalProperties: false })
const Page = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_WEBHOOKS_PAGE_SIZE, default: WEBHOOKS_PAGE_SIZE })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 400, pattern: '^[A-Za-z0-9_-]+$', description: "The page before's nextCursor" })),
  },
  { additionalProperties: false },
)

export const WebhookSubscription = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Nullable(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Nullable(Type.String({ description: 'Why it is no longer sent to' })),
  failingSince: Nullable(Type.String({ format: 'date-time', description: 'Since when every delivery failed' })),
  owner: Type.String({ description: 'The sub that made it' }),
  team: Type.String({ description: "The team it belongs to: its members manage it, and it receives that team's events" }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})

const WithSecret = Type.Object({
  ...WebhookSubscription.properties,
  secret: Type.String({ description: 'whsec_ + base64: the signing secret, shown only now' }),
})

export const WebhookDelivery = Type.Object({
  id: Type.String({ format: 'uuid' }),
  webhookId: Type.String({ description: 'The webhook-id header of every attempt' }),
  eventType: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  attempts: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      at: Type.String({ format: 'date-time' }),
      statusCode: Nullable(Type.Integer()),
      durationMs: Type.Integer(),
      error: Nullable(Type.String()),
    }),
  ),
})

export const createWebhookSchema = {
  operationId: 'createWebhook',
  summary: 'Subscribe a URL to events (Standard Webhooks); answers the signing secret once',
  tags,
  body: Type.Object({ url: Url, events: Events, description: Type.Optional(Description), team: Type.Optional(Team) }, { additionalProperties: false }),
  response: { 201: WithSecret, 400: ErrorResponse, ...authErrors, 422: ErrorResponse },
}

export const listWebhooksSchema = {
  operationId: 'listWebhooks',
  summary: "The webhook subscriptions of the caller's teams (an admin's: all), newest first, in cursor pages",
  tags,
  querystring: Page,
  response: {
    200: Type.Object({ items: Type.Array(WebhookSubscription), nextCursor: Nullable(Type.String()) }),
    400: ErrorResponse,
    ...authErrors,
  },
}

export const getWebhookSchema = {
  operationId: 'getWebhook',
  summary: 'A webhook subscription',
  tags,
  params: Id,
  response: { 200: WebhookSubscription, ...authErrors, 404: ErrorResponse },
}

export const updateWebhookSchema = {
  operationId: 'updateWebhook',
  summary: 'Change a subscription: URL, events, description, or enable it again',
  tags,
  params: Id,
  body: Type.Object(
    { url: Type.Optional(Url), events: Type.Optional(Events), description: Type.Optional(Nullable(Description)), enabled: Type.Optional(Type.Boolean()) },
    { additionalProperties: false, minProperties: 1 },
  ),
  response: { 200: WebhookSubscription, 400: ErrorResponse, ...authErrors, 404: ErrorResponse, 422: ErrorResponse },
}

export const deleteWebhookSchema = {
  operationId: 'deleteWebhook',
  summary: 'Delete a subscription (its deliveries are kept)',
  tags,
  params: Id,
  response: { 204: Type.Null({ description: 'Deleted' }), ...authErrors, 404: ErrorResponse },
}

export const rotateWebhookSecretSchema = {
  operationId: 'rotateWebhookSecret',
  summary: "Replace a subscription's signing secret; answers the new one once",
  tags,
  params: Id,
  response: { 200: Type.Object({ id: Type.String(), secret: Type.String() }), ...authErrors, 404: ErrorResponse },
}

export const testWebhookSchema = {
  operationId: 'testWebhook',
  summary: 'Send a webhook.test event to this subscription',
  tags,
  params: Id,
  response: { 202: Type.Object({ deliveryId: Type.String({ format: 'uuid' }) }), ...authErrors, 404: ErrorResponse },
}

export const listDeliveriesSchema = {
  operationId: 'listWebhookDeliveries',
  summary: "A subscription's deliveries, newest first, each with its attempts (status, duration, error)",
  tags,
  params: Id,
  querystring: Page,
  response: {
    200: Type.Object({ items: Type.Array(WebhookDelivery), nextCursor: Nullable(Type.String()) }),
    400: ErrorResponse,
    ...authErrors,
    404: ErrorResponse,
  },
}

export const retryDeliverySchema = {
  operationId: 'retryWebhookDelivery',
  summary: 'Send a delivery again (same webhook-id)',
  tags,
  params: Type.Object({ id: Type.String(), delivery: Type.String() }, { additionalProperties: false }),
  response: { 202: Type.Object({ deliveryId: Type.String() }), ...authErrors, 404: ErrorResponse },
}
