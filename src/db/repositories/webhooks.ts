/**
 * Webhooks' records. The outbox (WebhookOutbox) records an event in the transaction of the change
 * that causes it, and queues its fan-out job there too (through the dispatcher the webhooks module
 * sets: pg-boss on the same connection), so that an event exists, and will be sent, exactly when its
 * change was committed. The subscriptions' secrets are sealed with the service's keyring, bound to
 * their subscription's id.
 */
import { randomUUID } from 'node:crypto'
import { and, asc, desc, eq, inArray, isNull, or, sql, type SQL } from 'drizzle-orm'
import { generateWebhookSecret, webhookPayload, deploymentEvent, type WebhookPayload } from '../../domain/webhooks.js'
import type { Keyring } from '../../domain/secrets.js'
import { personalTeam, visibleTeams } from '../../domain/teams.js'
import { teamCondition } from './team-filter.js'
import type { Database, Db } from '../database.js'
import { inTransaction, withJobTransaction, type JobTransaction, type TransactionSql } from '../job-transaction.js'
import {
  clones,
  deployments,
  type PoolRow,
  webhookAttempts,
  webhookDeliveries,
  webhookEvents,
  webhookSubscriptions,
  type DeploymentRow,
  type WebhookAttemptRow,
  type WebhookDeliveryRow,
  type WebhookEventRow,
  type WebhookSubscriptionRow,
} from '../schema.js'

/** Queues the delivery jobs of these deliveries, on the transaction's connection. */
export type DeliveryEnqueuer = (sql: TransactionSql, deliveryIds: string[]) => Promise<void>

/** Who an event concerns: the requester of the change, and the team owning its object (the subscriptions' filter). */
export interface EventOwner {
  requester: string | null
  team: string | null
}

/** Queues the fan-out of a recorded event, on the transaction's connection. */
export type EventDispatcher = (sql: TransactionSql, eventId: string) => Promise<void>

export class WebhookOutbox {
  private dispatcher: EventDispatcher | undefined

  constructor(private readonly database: Database) {}

  /** Set once by the webhooks module (it owns the queue); until then events are recorded only. */
  setDispatcher(dispatcher: EventDispatcher): void {
    this.dispatcher = dispatcher
  }

  /** Records an event (and queues its fan-out) in `tx`, or in a transaction of its own. */
  async record(type: string, owner: EventOwner, data: Record<string, unknown>, tx?: JobTransaction): Promise<string> {
    return inTransaction(this.database.pool, tx, async (tx) => {
      const [row] = await tx.db
        .insert(webhookEvents)
        .values({ type, requester: owner.requester, team: owner.team, payload: webhookPayload(type, data) })
        .returning({ id: webhookEvents.id })
      await this.dispatcher?.(tx.sql, row!.id)
      return row!.id
    })
  }

  /** clone.ready or clone.failed, in the transaction that moved the clone, for its deployment's requester. */
  async cloneSettled(cloneId: string, tx: JobTransaction): Promise<void> {
    const [row] = await tx.db
      .select({ clone: clones, deployment: deployments })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(eq(clones.id, cloneId))
    if (!row || (row.clone.status !== 'ready' && row.clone.status !== 'failed')) return
    const { clone: c, deployment: d } = row
    await this.record(
      `clone.${row.clone.status}`,
      { requester: d.requester, team: d.team },
      {
        clone: c.name,
        status: c.status,
        moref: c.moref,
        instanceUuid: c.instanceUuid,
        deploymentId: d.id,
        pool: d.poolName,
        requester: d.requester,
        team: d.team,
        ticket: d.ticket,
        requestId: d.requestId,
        hostName: c.guest?.hostName ?? null,
        ipAddresses: c.guest?.ipAddresses ?? [],
        error: c.error ?? null,
        links: { clone: `/v1/clones/${encodeURIComponent(c.name)}`, deployment: `/v1/deployments/${d.id}` },
      },
      tx,
    )
  }

  /** pool.stripped (or pool.expired when its expiry stripped it), in the transaction that marked it. */
  async poolStripped(
    pool: PoolRow,
    by: string,
    deploymentId: string,
    { ticket, requestId }: { ticket: string | null; requestId: string | null },
    tx: JobTransaction,
  ): Promise<void> {
    const expired = by === 'expiry'
    await this.record(
      expired ? 'pool.expired' : 'pool.stripped',
      { requester: pool.requester, team: pool.team },
      {
        pool: pool.name,
        poolId: pool.id,
        parent: pool.parentName,
        requester: pool.requester,
        team: pool.team,
        strippedBy: by,
        ticket,
        requestId,
        expiresAt: pool.expiresAt?.toISOString() ?? null,
        deploymentId,
        links: { pool: `/v1/pools/${encodeURIComponent(pool.name)}`, deployment: `/v1/deployments/${deploymentId}` },
      },
      tx,
    )
  }

  /** deployment.succeeded or .failed, with its clones, in the transaction that closed it. */
  async deploymentFinished(deployment: DeploymentRow, tx: JobTransaction): Promise<void> {
    const rows = await tx.db
      .select({ name: clones.name, status: clones.status, moref: clones.moref, guest: clones.guest })
      .from(clones)
      .where(or(eq(clones.deploymentId, deployment.id), eq(clones.destroyDeploymentId, deployment.id)))
      .orderBy(asc(clones.number), asc(clones.name))
    const event = deploymentEvent({ deployment, clones: rows })
    await this.record(event.type, { requester: deployment.requester, team: deployment.team }, event.data, tx)
  }
}

export interface WebhookCaller {
  sub: string
  teams: readonly string[]
  admin: boolean
}

export interface NewSubscription {
  url: string
  events: string[]
  description?: string
  /** The owning team (domain/teams.ts owningTeam). */
  team: string
}

export type DeliveryWithAttempts = WebhookDeliveryRow & { eventType: string; attemptList: WebhookAttemptRow[]; cursorAt: string }

export interface DeliveryToSend {
  delivery: WebhookDeliveryRow
  subscription: WebhookSubscriptionRow
  event: WebhookEventRow
}

export class WebhookRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    private readonly keyring: Keyring,
  ) {
    this.db = database.db
  }

  /**
   * The team's subscriptions; an admin's receives every team's events, so only admins see and
   * change it (a member of its team redirecting its URL would read every team's events).
   */
  private visible(caller: WebhookCaller): SQL | undefined {
    return and(
      isNull(webhookSubscriptions.deletedAt),
      teamCondition(webhookSubscriptions.team, visibleTeams(caller)),
      caller.admin ? undefined : eq(webhookSubscriptions.ownerAdmin, false),
    )
  }

  /** A new subscription and its secret (the only time the secret leaves the database unsealed). */
  async create(input: NewSubscription, caller: WebhookCaller): Promise<{ subscription: WebhookSubscriptionRow; secret: string }> {
    const id = randomUUID()
    const secret = generateWebhookSecret()
    const sealed = this.keyring.seal(secret, { recordId: id, name: 'webhook-secret' })
    const [subscription] = await this.db
      .insert(webhookSubscriptions)
      .values({
        id,
        ownerSub: caller.sub,
        ownerAdmin: caller.admin,
        team: input.team,
        url: input.url,
        events: input.events,
        description: input.description ?? null,
        secretSealed: sealed.sealed,
        secretKeyId: sealed.keyId,
      })
      .returning()
    return { subscription: subscription!, secret }
  }

  async list(caller: WebhookCaller, limit: number, after?: string[]): Promise<(WebhookSubscriptionRow & { cursorAt: string })[]> {
    const conditions = [this.visible(caller)]
    if (after) conditions.push(sql`(${webhookSubscriptions.createdAt}, ${webhookSubscriptions.id}) < (${after[0]}::timestamptz, ${after[1]}::uuid)`)
    const rows = await this.db
      .select({ s: webhookSubscriptions, cursorAt: sql<string>`${webhookSubscriptions.createdAt}::text` })
      .from(webhookSubscriptions)
      .where(and(...conditions))
      .orderBy(desc(webhookSubscriptions.createdAt), desc(webhookSubscriptions.id))
      .limit(limit)
    return rows.map((r) => ({ ...r.s, cursorAt: r.cursorAt }))
  }

  async get(id: string, caller: WebhookCaller): Promise<WebhookSubscriptionRow | undefined> {
    const [row] = await this.db.select().from(webhookSubscriptions).where(and(eq(webhookSubscriptions.id, id), this.visible(caller)))
    return row
  }

  /** Changes what was given; `enabled: true` re-enables a disabled one (and forgets its failures). */
  async update(
    id: string,
    caller: WebhookCaller,
    fields: { url?: string; events?: string[]; description?: string | null; enabled?: boolean },
  ): Promise<WebhookSubscriptionRow | undefined> {
    const [row] = await this.db
      .update(webhookSubscriptions)
      .set({
        ...fields,
        ...(fields.enabled === true ? { disabledReason: null, failingSince: null } : {}),
        ...(fields.enabled === false ? { disabledReason: 'disabled by its owner' } : {}),
        updatedAt: sql`now()`,
      })
      .where(and(eq(webhookSubscriptions.id, id), this.visible(caller)))
      .returning()
    return row
  }

  /** Deleted: sent no more, and hidden; its deliveries' records are kept. */
  async delete(id: string, caller: WebhookCaller): Promise<boolean> {
    const rows = await this.db
      .update(webhookSubscriptions)
      .set({ deletedAt: sql`now()`, enabled: false, disabledReason: 'deleted', updatedAt: sql`now()` })
      .where(and(eq(webhookSubscriptions.id, id), this.visible(caller)))
      .returning({ id: webhookSubscriptions.id })
    return rows.length > 0
  }

  async rotateSecret(id: string, caller: WebhookCaller): Promise<string | undefined> {
    const secret = generateWebhookSecret()
    const sealed = this.keyring.seal(secret, { recordId: id, name: 'webhook-secret' })
    const rows = await this.db
      .update(webhookSubscriptions)
      .set({ secretSealed: sealed.sealed, secretKeyId: sealed.keyId, updatedAt: sql`now()` })
      .where(and(eq(webhookSubscriptions.id, id), this.visible(caller)))
      .returning({ id: webhookSubscriptions.id })
    return rows.length > 0 ? secret : undefined
  }

  secretOf(subscription: WebhookSubscriptionRow): string {
    return this.keyring.open({ keyId: subscription.secretKeyId, sealed: subscription.secretSealed }, { recordId: subscription.id, name: 'webhook-secret' })
  }

  /**
   * The deliveries of an event: one per enabled subscription that wants its type and may see it (of
   * the event's team, or an admin made it; an event recorded before teams has no team and is its
   * requester's personal team's). Idempotent (a repeated fan-out adds none).
   */
  async fanOut(eventId: string, enqueue: DeliveryEnqueuer): Promise<string[]> {
    return withJobTransaction(this.database.pool, async (tx) => {
    const [event] = await tx.db.select().from(webhookEvents).where(eq(webhookEvents.id, eventId))
    if (!event) return []
    const rows = await tx.query(
      `INSERT INTO webhook_deliveries (subscription_id, event_id)
       SELECT s.id, $1 FROM webhook_subscriptions s
        WHERE s.enabled AND s.deleted_at IS NULL AND jsonb_exists(s.events, $2)
          AND (s.owner_admin OR s.team = $3)
       ON CONFLICT (event_id, subscription_id) DO NOTHING
       RETURNING id`,
      [eventId, event.type, event.team ?? (event.requester === null ? null : personalTeam(event.requester))],
    )
    const ids = rows.rows.map((r: { id: string }) => r.id)
    if (ids.length > 0) await enqueue(tx.sql, ids)
    return ids
    })
  }

  /** A delivery of a test event to one subscription (POST /v1/webhooks/{id}/test). */
  async createTestDelivery(subscription: WebhookSubscriptionRow, type: string, data: Record<string, unknown>, enqueue: DeliveryEnqueuer): Promise<string> {
    return withJobTransaction(this.database.pool, async (tx) => {
    const [event] = await tx.db
      .insert(webhookEvents)
      .values({ type, requester: subscription.ownerSub, team: subscription.team, payload: webhookPayload(type, data) })
      .returning({ id: webhookEvents.id })
    const [delivery] = await tx.db
      .insert(webhookDeliveries)
      .values({ subscriptionId: subscription.id, eventId: event!.id })
      .returning({ id: webhookDeliveries.id })
    await enqueue(tx.sql, [delivery!.id])
    return delivery!.id
    })
  }

  async toSend(deliveryId: string): Promise<DeliveryToSend | undefined> {
    const [row] = await this.db
      .select({ delivery: webhookDeliveries, subscription: webhookSubscriptions, event: webhookEvents })
      .from(webhookDeliveries)
      .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId))
      .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
      .where(eq(webhookDeliveries.id, deliveryId))
    return row
  }

  /**
   * One attempt's outcome: recorded, the delivery moved on (succeeded; failed when `final`), the
   * subscription's failing streak started or ended. Answers since when the subscription has been failing.
   */
  async recordAttempt(
    delivery: WebhookDeliveryRow,
    outcome: { ok: boolean; statusCode: number | null; durationMs: number; error: string | null },
    final: boolean,
  ): Promise<Date | null> {
    return inTransaction(this.database.pool, undefined, async (tx) => {
      const [counted] = await tx.db
        .update(webhookDeliveries)
        .set({
          attempts: sql`${webhookDeliveries.attempts} + 1`,
          lastStatusCode: outcome.statusCode,
          lastError: outcome.error,
          ...(outcome.ok ? { status: 'succeeded' as const, finishedAt: sql`now()` } : final ? { status: 'failed' as const, finishedAt: sql`now()` } : {}),
          updatedAt: sql`now()`,
        })
        .where(eq(webhookDeliveries.id, delivery.id))
        .returning({ attempts: webhookDeliveries.attempts })
      await tx.db.insert(webhookAttempts).values({
        deliveryId: delivery.id,
        attempt: counted!.attempts,
        statusCode: outcome.statusCode,
        durationMs: outcome.durationMs,
        error: outcome.error,
      })
      const [sub] = await tx.db
        .update(webhookSubscriptions)
        .set({ failingSince: outcome.ok ? null : sql`coalesce(${webhookSubscriptions.failingSince}, now())` })
        .where(eq(webhookSubscriptions.id, delivery.subscriptionId))
        .returning({ failingSince: webhookSubscriptions.failingSince })
      return sub?.failingSince ?? null
    })
  }

  async disable(id: string, reason: string): Promise<void> {
    await this.db
      .update(webhookSubscriptions)
      .set({ enabled: false, disabledReason: reason, updatedAt: sql`now()` })
      .where(eq(webhookSubscriptions.id, id))
  }

  /** A delivery that will not be attempted (its subscription is disabled or deleted). */
  async abandon(deliveryId: string, reason: string): Promise<void> {
    await this.db
      .update(webhookDeliveries)
      .set({ status: 'failed', lastError: reason, finishedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')))
  }

  /** A delivery sent again on request (POST .../retry): pending again, its attempts kept. */
  async reopen(deliveryId: string, enqueue: DeliveryEnqueuer): Promise<void> {
    await withJobTransaction(this.database.pool, async (tx) => {
      await tx.db
        .update(webhookDeliveries)
        .set({ status: 'pending', finishedAt: null, updatedAt: sql`now()` })
        .where(eq(webhookDeliveries.id, deliveryId))
      await enqueue(tx.sql, [deliveryId])
    })
  }

  async getDelivery(subscriptionId: string, deliveryId: string): Promise<WebhookDeliveryRow | undefined> {
    const [row] = await this.db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.subscriptionId, subscriptionId)))
    return row
  }

  /** A subscription's deliveries, newest first, each with its attempts (oldest first). */
  async deliveries(subscriptionId: string, limit: number, after?: string[]): Promise<DeliveryWithAttempts[]> {
    const conditions = [eq(webhookDeliveries.subscriptionId, subscriptionId)]
    if (after) conditions.push(sql`(${webhookDeliveries.createdAt}, ${webhookDeliveries.id}) < (${after[0]}::timestamptz, ${after[1]}::uuid)`)
    const rows = await this.db
      .select({ d: webhookDeliveries, eventType: webhookEvents.type, cursorAt: sql<string>`${webhookDeliveries.createdAt}::text` })
      .from(webhookDeliveries)
      .innerJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
      .where(and(...conditions))
      .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
      .limit(limit)
    if (rows.length === 0) return []
    const attempts = await this.db
      .select()
      .from(webhookAttempts)
      .where(inArray(webhookAttempts.deliveryId, rows.map((r) => r.d.id)))
      .orderBy(asc(webhookAttempts.id))
    return rows.map((r) => ({ ...r.d, eventType: r.eventType, cursorAt: r.cursorAt, attemptList: attempts.filter((a) => a.deliveryId === r.d.id) }))
  }
}

export type { WebhookPayload }
