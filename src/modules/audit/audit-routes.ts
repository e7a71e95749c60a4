import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ValidationFailed } from '../../errors.js'
import { DEFAULT_LIMIT } from '../../http/pagination.js'
import { listAuditEventsSchema } from './audit-schemas.js'
import { presentAuditEvent } from './audit-presenters.js'
import type { AuditFilter } from './audit-service.js'

/** An ISO 8601 instant of the query, else 400 VALIDATION_FAILED naming the field. */
function instant(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw new ValidationFailed({ field }, `"${field}" must be an ISO 8601 date-time`)
  return at
}

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/audit', { schema: listAuditEventsSchema, onRequest: app.requireScope('admin') }, async (request, reply) => {
    const { limit = DEFAULT_LIMIT, cursor, since, until, ...rest } = request.query
    const filter: AuditFilter = { ...rest, since: instant(since, 'since'), until: instant(until, 'until') }
    const page = await app.audit.list(filter, limit, cursor)
    if (page.nextCursor) {
      const next = new URLSearchParams()
      for (const [name, value] of Object.entries({ ...rest, since, until, limit })) if (value !== undefined) next.set(name, String(value))
      next.set('cursor', page.nextCursor)
      reply.header('link', `</v1/audit?${next.toString()}>; rel="next"`)
    }
    return { items: page.items.map(presentAuditEvent), nextCursor: page.nextCursor }
  })
}

export default auditRoutes
