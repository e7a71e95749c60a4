import type { ListedAuditEvent } from './audit-service.js'

/** An audit event as REST and GraphQL show it. */
export function presentAuditEvent(e: ListedAuditEvent) {
  return {
    id: String(e.id),
    at: e.at.toISOString(),
    sub: e.sub,
    team: e.team,
    scope: e.scope,
    operation: e.operation,
    objectType: e.objectType,
    objectId: e.objectId,
    outcome: e.outcome,
    statusCode: e.statusCode,
    errorCode: e.errorCode,
    requestId: e.requestId,
    ticket: e.ticket,
    details: e.details ?? null,
  }
}
