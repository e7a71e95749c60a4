/** The audit over GraphQL: auditEvents, as GET /v1/audit (admin). */
import { ValidationFailed } from '../../errors.js'
import { PAGE_ARGS, connectionResolvers, connectionTypeDefs, paginate, pageRequest, type PageArgs } from '../../graphql/connection.js'
import type { GraphqlContext } from '../../graphql/context.js'
import { presentAuditEvent } from './audit-presenters.js'
import { auditCursorKey, decodeAuditCursor, type AuditFilter, type ListedAuditEvent } from './audit-service.js'

export const typeDefs = /* GraphQL */ `
  enum AuditOutcome {
    SUCCEEDED
    FAILED
    "401 or 403"
    REFUSED
  }

  "One write, REST or GraphQL, accepted or refused."
  type AuditEvent {
    id: ID!
    at: DateTime!
    "The token's sub; null when the request had no valid token."
    sub: String
    "The object's team, else the team asked for, else the caller's only team."
    team: String
    "The scope the operation requires."
    scope: String
    "\\"POST /v1/pools/{name}/refresh\\" or \\"mutation refreshPool\\"."
    operation: String!
    objectType: String
    objectId: String
    outcome: AuditOutcome!
    statusCode: Int
    errorCode: String
    "The X-Request-Id of the request."
    requestId: String
    ticket: String
    "More about it, as JSON text."
    details: String
  }

  ${connectionTypeDefs('AuditEvent')}

  input AuditEventFilter {
    team: String
    sub: String
    objectType: String
    objectId: String
    "From this instant, included."
    since: DateTime
    "Until this instant, excluded."
    until: DateTime
  }

  extend type Query {
    "Every write, newest first (admin)."
    auditEvents(filter: AuditEventFilter, ${PAGE_ARGS}): AuditEventConnection!
  }
`

interface AuditEventsArgs extends PageArgs {
  filter?: { team?: string | null; sub?: string | null; objectType?: string | null; objectId?: string | null; since?: unknown; until?: unknown } | null
}

function instant(value: unknown, field: string): Date | undefined {
  if (value === null || value === undefined) return undefined
  const at = value instanceof Date ? value : new Date(String(value))
  if (Number.isNaN(at.getTime())) throw new ValidationFailed({ field }, `"${field}" must be an ISO 8601 date-time`)
  return at
}

export const queries = {
  async auditEvents(_: unknown, args: AuditEventsArgs, context: GraphqlContext) {
    const f = args.filter ?? {}
    const filter: AuditFilter = {
      team: f.team ?? undefined,
      sub: f.sub ?? undefined,
      objectType: f.objectType ?? undefined,
      objectId: f.objectId ?? undefined,
      since: instant(f.since, 'since'),
      until: instant(f.until, 'until'),
    }
    // Checked here: a cursor of another list decodes to two strings too.
    const { cursor, cursorField } = pageRequest(args)
    if (cursor !== undefined) decodeAuditCursor(cursor, cursorField)
    const { audit } = context.app
    return paginate(args, {
      keyLength: 2,
      read: (limit, after) => audit.page(filter, limit, after),
      cursorKey: auditCursorKey,
      count: () => audit.count(filter),
    })
  },
}

export const resolvers = {
  AuditEventConnection: connectionResolvers,
  AuditEvent: {
    id: (e: ListedAuditEvent) => String(e.id),
    outcome: (e: ListedAuditEvent) => presentAuditEvent(e).outcome.toUpperCase(),
    details: (e: ListedAuditEvent) => (e.details ? JSON.stringify(e.details) : null),
  },
}
