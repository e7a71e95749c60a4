/**
 * Webhooks' pure rules: the event types, the payloads (`{type, timestamp, data}`), the signing
 * secret's form (Standard Webhooks: `whsec_` + base64), and which addresses a webhook may never reach
 * (SSRF: loopback, private, link-local, multicast, cloud metadata... anything but public unicast).
 */
import { randomBytes } from 'node:crypto'
import ipaddr from 'ipaddr.js'

export const WEBHOOK_EVENT_TYPES = [
  'deployment.succeeded',
  'deployment.failed',
  'clone.ready',
  'clone.failed',
  'pool.stripped',
  'pool.expired',
  'pool.drift_found',
  'preparation.succeeded',
  'preparation.failed',
] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/** Sent by POST /v1/webhooks/{id}/test only, to that subscription. */
export const TEST_EVENT_TYPE = 'webhook.test'

export interface WebhookPayload {
  type: string
  timestamp: string
  data: Record<string, unknown>
}

export function webhookPayload(type: string, data: Record<string, unknown>, at: Date = new Date()): WebhookPayload {
  return { type, timestamp: at.toISOString(), data }
}

/** A new signing secret: 32 random bytes, as Standard Webhooks writes them. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/** True for an address a webhook may not be sent to: anything but a public unicast address. */
export function isForbiddenAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true
  // process(): an IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it is.
  return ipaddr.process(address).range() !== 'unicast'
}

export interface DeploymentEventFacts {
  deployment: {
    id: string
    kind: string
    status: string
    poolName: string | null
    parentName: string
    requester: string
    team: string
    ticket: string | null
    /** The X-Request-Id of the request that caused it (null: the service itself). */
    requestId: string | null
    count: number
    error: unknown
    createdAt: Date
    finishedAt: Date | null
  }
  clones: { name: string; status: string; moref: string | null; guest?: { hostName: string | null; ipAddresses: string[] } | null }[]
}

/** deployment.succeeded / deployment.failed: ids, requester, ticket, request id, counts, the clones and links. */
export function deploymentEvent({ deployment: d, clones }: DeploymentEventFacts): { type: WebhookEventType; data: Record<string, unknown> } {
  const counts: Record<string, number> = {}
  for (const c of clones) counts[c.status] = (counts[c.status] ?? 0) + 1
  return {
    type: d.status === 'succeeded' ? 'deployment.succeeded' : 'deployment.failed',
    data: {
      deploymentId: d.id,
      kind: d.kind,
      status: d.status,
      pool: d.poolName,
      parent: d.parentName,
      requester: d.requester,
      team: d.team,
      ticket: d.ticket,
      requestId: d.requestId,
      count: d.count,
      counts,
      // The guest's host name and addresses once its customization reported them (null before).
      clones: clones.map((c) => ({ name: c.name, status: c.status, moref: c.moref, hostName: c.guest?.hostName ?? null, ipAddresses: c.guest?.ipAddresses ?? [] })),
      error: d.error ?? null,
      createdAt: d.createdAt.toISOString(),
      finishedAt: d.finishedAt?.toISOString() ?? null,
      links: {
        deployment: `/v1/deployments/${d.id}`,
        ...(d.poolName ? { pool: `/v1/pools/${encodeURIComponent(d.poolName)}` } : {}),
      },
    },
  }
}
