/**
 * Webhook subscriptions (CRUD, secret rotation, test, deliveries and their retry) and the two jobs
 * that send events: the fan-out of an event to its subscriptions' deliveries, and each delivery,
 * signed as Standard Webhooks says (the `standardwebhooks` package), retried with doubling delays
 * under the same `webhook-id` (the delivery's id) until a 2xx. A subscription failing without a
 * success for WEBHOOK_DISABLE_AFTER_HOURS is disabled and says why.
 *
 * A subscription belongs to a team (chosen at creation): the team's members see and manage it, and it
 * receives the events of the team's objects; one made with the `admin` scope receives every event.
 */
import type { FastifyBaseLogger } from 'fastify'
import type PgBoss from 'pg-boss'
import { Webhook } from 'standardwebhooks'
import type { TransactionSql } from '../../db/job-transaction.js'
import type { WebhookOutbox, WebhookRepository, WebhookCaller, NewSubscription } from '../../db/repositories/webhooks.js'
import type { WebhookSubscriptionRow } from '../../db/schema.js'
import { TEST_EVENT_TYPE } from '../../domain/webhooks.js'
import { owningTeam } from '../../domain/teams.js'
import { ValidationFailed, WebhookDeliveryNotFound, WebhookNotFound } from '../../errors.js'
import { decodeCursor, encodeCursor } from '../../graphql/pagination.js'
import { QUEUES, WEBHOOK_EVENT_RETRY, webhookDeliverRetry, type WebhookDeliverData, type WebhookEventData } from '../../jobs/queues.js'
import { isUuid } from '../../domain/ids.js'
import { checkWebhookUrl, outcomeLabel, postWebhook } from './safe-http.js'

export type { WebhookCaller }

export interface WebhookSettings {
  allowedHosts: string[]
  retrySeconds: number
  disableAfterHours: number
  /** Told of every delivery attempt's outcome (the metrics' webhook_deliveries_total). */
  onAttempt?: (outcome: string) => void
}

function decodePageCursor(cursor: string | undefined): string[] | undefined {
  if (cursor === undefined) return undefined
  try {
    return decodeCursor(cursor, 2)
  } catch {
    throw new ValidationFailed({ field: 'cursor' }, '"cursor" is not a cursor given by this API')
  }
}

export class WebhookService {
  constructor(
    private readonly repository: WebhookRepository,
    private readonly boss: PgBoss,
    private readonly settings: WebhookSettings,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Wires the outbox: every recorded event queues its fan-out in the same transaction. */
  connect(outbox: WebhookOutbox): void {
    outbox.setDispatcher(async (sql, eventId) => {
      await this.boss.send(QUEUES.webhookEvent, { eventId } satisfies WebhookEventData, { ...WEBHOOK_EVENT_RETRY, singletonKey: eventId, db: sql })
    })
  }

  private readonly enqueueDeliveries = async (sql: TransactionSql, deliveryIds: string[]) => {
    await this.boss.insert(
      QUEUES.webhookDeliver,
      deliveryIds.map((deliveryId) => ({
        name: QUEUES.webhookDeliver,
        data: { deliveryId } satisfies WebhookDeliverData,
        ...webhookDeliverRetry(this.settings.retrySeconds),
      })),
      { db: sql },
    )
  }

  async create(input: Omit<NewSubscription, 'team'> & { team?: string }, caller: WebhookCaller) {
    const team = owningTeam(caller, input.team)
    const url = await checkWebhookUrl(input.url, this.settings.allowedHosts)
    return this.repository.create({ ...input, team, url, events: [...new Set(input.events)] }, caller)
  }

  async list(caller: WebhookCaller, limit: number, cursor?: string) {
    const rows = await this.repository.list(caller, limit + 1, decodePageCursor(cursor))
    const shown = rows.slice(0, limit)
    return { items: shown, nextCursor: rows.length > limit ? encodeCursor([shown.at(-1)!.cursorAt, shown.at(-1)!.id]) : null }
  }

  async get(id: string, caller: WebhookCaller): Promise<WebhookSubscriptionRow> {
    const found = isUuid(id) ? await this.repository.get(id, caller) : undefined
    if (!found) throw new WebhookNotFound({ id }, id)
    return found
  }

  async update(id: string, caller: WebhookCaller, fields: { url?: string; events?: string[]; description?: string | null; enabled?: boolean }) {
    await this.get(id, caller)
    const url = fields.url === undefined ? undefined : await checkWebhookUrl(fields.url, this.settings.allowedHosts)
    const updated = await this.repository.update(id, caller, {
      ...fields,
      ...(url ? { url } : {}),
      ...(fields.events ? { events: [...new Set(fields.events)] } : {}),
    })
    if (!updated) throw new WebhookNotFound({ id }, id)
    return updated
  }

  async delete(id: string, caller: WebhookCaller): Promise<void> {
    if (!isUuid(id) || !(await this.repository.delete(id, caller))) throw new WebhookNotFound({ id }, id)
  }

  async rotateSecret(id: string, caller: WebhookCaller): Promise<string> {
    const secret = isUuid(id) ? await this.repository.rotateSecret(id, caller) : undefined
    if (!secret) throw new WebhookNotFound({ id }, id)
    return secret
  }

  /** A `webhook.test` event to this subscription only; answers its delivery's id. */
  async test(id: string, caller: WebhookCaller): Promise<string> {
    const subscription = await this.get(id, caller)
    return this.repository.createTestDelivery(
      subscription,
      TEST_EVENT_TYPE,
      { subscriptionId: subscription.id, message: 'A test event, sent on request', links: { subscription: `/v1/webhooks/${subscription.id}` } },
      this.enqueueDeliveries,
    )
  }

  async deliveries(id: string, caller: WebhookCaller, limit: number, cursor?: string) {
    await this.get(id, caller)
    const rows = await this.repository.deliveries(id, limit + 1, decodePageCursor(cursor))
    const shown = rows.slice(0, limit)
    return { items: shown, nextCursor: rows.length > limit ? encodeCursor([shown.at(-1)!.cursorAt, shown.at(-1)!.id]) : null }
  }

  /** Sends a delivery again (its attempts so far kept, the same webhook-id). */
  async retryDelivery(id: string, deliveryId: string, caller: WebhookCaller): Promise<void> {
    await this.get(id, caller)
    const delivery = isUuid(deliveryId) ? await this.repository.getDelivery(id, deliveryId) : undefined
    if (!delivery) throw new WebhookDeliveryNotFound({ id, delivery: deliveryId }, id, deliveryId)
    await this.repository.reopen(delivery.id, this.enqueueDeliveries)
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /** An event's deliveries, and their jobs, in one transaction (a repeat adds none). */
  async fanOut(eventId: string): Promise<void> {
    const ids = await this.repository.fanOut(eventId, this.enqueueDeliveries)
    if (ids.length > 0) this.log.info({ eventId, deliveries: ids.length }, 'webhook event fanned out')
  }

  /** One attempt of a delivery; throws (pg-boss retries it later) while it fails and may be retried. */
  async deliver(deliveryId: string, attempt: { attempt: number; lastAttempt: boolean }): Promise<void> {
    const found = await this.repository.toSend(deliveryId)
    if (!found) return
    const { delivery, subscription, event } = found
    if (delivery.status !== 'pending') return
    if (!subscription.enabled || subscription.deletedAt) {
      await this.repository.abandon(delivery.id, `not sent: the subscription is ${subscription.deletedAt ? 'deleted' : 'disabled'}`)
      return
    }
    const body = JSON.stringify(event.payload)
    const msgId = `msg_${delivery.id}`
    const at = new Date()
    const signature = new Webhook(this.repository.secretOf(subscription)).sign(msgId, at, body)
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }
    const outcome = await postWebhook(subscription.url, headers, body, this.settings.allowedHosts)
    this.settings.onAttempt?.(outcomeLabel(outcome))
    const final = !outcome.ok && attempt.lastAttempt
    const failingSince = await this.repository.recordAttempt(delivery, outcome, final)
    const log = this.log.child({ deliveryId: delivery.id, subscriptionId: subscription.id, eventType: event.type })
    if (outcome.ok) {
      log.info({ statusCode: outcome.statusCode, durationMs: outcome.durationMs }, 'webhook delivered')
      return
    }
    log.warn({ statusCode: outcome.statusCode, error: outcome.error, attempt: attempt.attempt + 1 }, 'webhook delivery failed')
    if (failingSince && Date.now() - failingSince.getTime() >= this.settings.disableAfterHours * 3600_000) {
      const reason = `disabled: every delivery failed for ${this.settings.disableAfterHours} hours (last: ${outcome.error})`
      await this.repository.disable(subscription.id, reason)
      await this.repository.abandon(delivery.id, reason)
      log.warn(reason)
      return
    }
    if (!final) throw new Error(`webhook delivery failed: ${outcome.error}`)
  }
}
