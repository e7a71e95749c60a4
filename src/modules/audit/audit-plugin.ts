/**
 * The audit of every write: each POST, PUT, PATCH and DELETE under /v1 and each GraphQL mutation over
 * HTTP, accepted or refused, is recorded once answered (onResponse: the answer is not delayed, and a
 * failed audit write is logged, never the request's failure). Requests refused before routing (an
 * unknown route) and those the rate limit turned away (429: a flood would become as many writes) are not.
 *
 * Registered before the routes (and the /graphql route): its hooks apply to routes made after them.
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { AuditRepository } from '../../db/repositories/audit.js'
import { AUDITED_METHODS, graphqlEntry, mutationOf, restEntry, type AnsweredRequest } from './audit-entry.js'
import { AuditService } from './audit-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditService
  }
}

/** The scope a route's onRequest hooks require (auth-plugin's requireScope tags its hook with it). */
function scopeOfRoute(route: RouteOptions): string | undefined {
  const hooks = [route.onRequest ?? []].flat() as { scope?: unknown }[]
  const scope = hooks.find((h) => typeof h.scope === 'string')?.scope
  return scope as string | undefined
}

export default fp(
  async function auditPlugin(app) {
    const service = new AuditService(new AuditRepository(app.database), app.log.child({ component: 'audit' }))
    app.decorate('audit', service)
    app.addHook('onClose', () => service.settled())

    const scopes = new Map<string, string>()
    app.addHook('onRoute', (route) => {
      const scope = scopeOfRoute(route)
      if (scope === undefined) return
      for (const method of [route.method].flat()) scopes.set(`${method} ${route.url}`, scope)
    })

    const isAudited = (request: FastifyRequest) => {
      const route = request.routeOptions.url
      if (route === undefined || !AUDITED_METHODS.has(request.method)) return false
      return route.startsWith('/v1/') || route === '/graphql'
    }

    // The answer's bytes, read once it is sent (its id, its error code).
    const answers = new WeakMap<FastifyRequest, string>()
    app.addHook('onSend', async (request, _reply, payload) => {
      if (typeof payload === 'string' && isAudited(request)) answers.set(request, payload)
      return payload
    })

    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!isAudited(request)) return
      try {
        const route = request.routeOptions.url!
        const answered: AnsweredRequest = {
          method: request.method,
          route,
          params: (request.params ?? {}) as Record<string, unknown>,
          query: (request.query ?? {}) as Record<string, unknown>,
          body: request.body,
          requestId: request.id,
          principal: request.principal,
          scope: scopes.get(`${request.method} ${route}`),
          statusCode: reply.statusCode,
          payload: answers.get(request),
        }
        let entry
        if (route === '/graphql') {
          const mutation = mutationOf(request.body)
          if (!mutation) return
          entry = graphqlEntry(answered, mutation)
        } else {
          entry = restEntry(answered)
        }
        if (entry.errorCode === 'RATE_LIMITED') return
        service.record(entry)
      } catch (err) {
        request.log.error({ err }, 'audit event not recorded')
      }
    })
  },
  { name: 'audit', dependencies: ['database'] },
)
