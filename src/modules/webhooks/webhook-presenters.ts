/** What REST shows of subscriptions and deliveries (never the sealed secret). */
import type { DeliveryWithAttempts } from '../../db/repositories/webhooks.js'
import type { WebhookSubscriptionRow } from '../../db/schema.js'

export function presentSubscription(s: WebhookSubscriptionRow) {
  return {
    id: s.id,
    url: s.url,
    events: s.events,
    description: s.description,
    enabled: s.enabled,
    disabledReason: s.disabledReason,
    failingSince: s.failingSince?.toISOString() ?? null,
    owner: s.ownerSub,
    team: s.team,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  }
}

export function presentDelivery(d: DeliveryWithAttempts) {
  return {
    id: d.id,
    webhookId: `msg_${d.id}`,
    eventType: d.eventType,
    status: d.status,
    createdAt: d.createdAt.toISOString(),
    finishedAt: d.finishedAt?.toISOString() ?? null,
    attempts: d.attemptList.map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), statusCode: a.statusCode, durationMs: a.durationMs, error: a.error })),
  }
}
