/**
 * The integrations' records: callers' idempotency keys, and webhook subscriptions with the outbox of
 * events, their deliveries and each attempt. Part of the one schema (re-exported by schema.ts).
 */
import { bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from './columns.js'

/**
 * An idempotency key of a caller (`Idempotency-Key`): the lock while its first request runs
 * (`finishedAt` null; `lockedUntil` a lease, so that a crashed replica's key comes free) and the
 * answer to replay once there is one. Kept 24 hours.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    ownerSub: text('owner_sub').notNull(),
    key: text('key').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    bodyHash: text('body_hash').notNull(),
    requestId: text('request_id').notNull(),
    /** Who holds the key: a token of the request that claimed it (request ids may repeat). */
    holder: uuid('holder').notNull(),
    lockedUntil: timestamp('locked_until', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    responseStatus: integer('response_status'),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    responseBody: text('response_body'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.ownerSub, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
)
export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect

/**
 * A webhook subscription: its team and the `sub` that made it (an admin's sees every event), its URL and
 * events, its signing secret sealed (AES-256-GCM, bound to its id), and whether it is still sent to.
 */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerSub: text('owner_sub').notNull(),
    ownerAdmin: boolean('owner_admin').notNull().default(false),
    /** The team it belongs to: it receives that team's events (an admin's receives every event). */
    team: text('team').notNull(),
    url: text('url').notNull(),
    events: jsonb('events').$type<string[]>().notNull(),
    description: text('description'),
    secretSealed: text('secret_sealed').notNull(),
    secretKeyId: text('secret_key_id').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    /** Since when every attempt failed (null once one succeeds): failing for days disables it. */
    failingSince: timestamp('failing_since', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [index('webhook_subscriptions_owner_idx').on(t.ownerSub, t.createdAt), index('webhook_subscriptions_team_idx').on(t.team, t.createdAt)],
)

/** An event, recorded in the transaction of the change that causes it: `payload` is what is sent. */
export const webhookEvents = pgTable('webhook_events', {
  id: uuid('id').primaryKey().defaultRandom(),
  type: text('type').notNull(),
  requester: text('requester'),
  /** The team whose object it concerns; null for events recorded before teams. */
  team: text('team'),
  payload: jsonb('payload').$type<{ type: string; timestamp: string; data: Record<string, unknown> }>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

/** One event to one subscription: its id is the `webhook-id` of every attempt. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subscriptionId: uuid('subscription_id').notNull().references(() => webhookSubscriptions.id),
    eventId: uuid('event_id').notNull().references(() => webhookEvents.id),
    status: text('status').$type<'pending' | 'succeeded' | 'failed'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('webhook_deliveries_event_subscription_idx').on(t.eventId, t.subscriptionId),
    index('webhook_deliveries_subscription_idx').on(t.subscriptionId, t.createdAt, t.id),
  ],
)

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: uuid('delivery_id').notNull().references(() => webhookDeliveries.id),
    attempt: integer('attempt').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId, t.id)],
)

export type WebhookSubscriptionRow = typeof webhookSubscriptions.$inferSelect
export type WebhookEventRow = typeof webhookEvents.$inferSelect
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect
