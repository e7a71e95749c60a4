/**
 * Authorization, as REST does it: a valid token for anything at all, and a scope per root field.
 *
 * - Over HTTP, the /graphql route's preHandler authenticates the request with the very function the
 *   /v1 routes use (app.authenticate): no token, no query parsed, 401 UNAUTHORIZED.
 * - Over WebSocket, the token travels in connection_init's payload (browsers cannot set headers on
 *   a WebSocket) and is checked by the same function before the connection is acknowledged.
 * - Every root field declares its scope in ROOT_FIELD_SCOPES and is wrapped to check it (FORBIDDEN);
 *   a test checks that no root field of the schema lacks one. Nested fields are only reachable through
 *   a root field. Password attributes are redacted where they are resolved (modules/clones/clones-graphql.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { GraphQLFieldResolver } from 'graphql'
import { Forbidden, InternalError, Unauthorized, databaseBusyFrom, isServiceError } from '../errors.js'
import { hasScope, type Principal, type Scope } from '../http/auth-plugin.js'
import type { GraphqlContext } from './context.js'
import { refusal, toGraphqlError } from './errors.js'

export const ROOT_FIELD_SCOPES: Record<'Query' | 'Mutation' | 'Subscription', Record<string, Scope>> = {
  Query: {
    deployment: 'deployments:read',
    deployments: 'deployments:read',
    clone: 'deployments:read',
    clones: 'deployments:read',
    cloneHistory: 'deployments:read',
    parents: 'deployments:read',
    pools: 'deployments:read',
    pool: 'deployments:read',
    // A plan, as REST's dry run: behind the scope that could deploy it.
    planLinkedClones: 'deployments:write',
    planPool: 'deployments:write',
    // A team of the caller's, its quota and usage; setting a quota is admin's.
    team: 'deployments:read',
    // The audit of every team's writes.
    auditEvents: 'admin',
  },
  Mutation: {
    deployLinkedClones: 'deployments:write',
    setCloneAttributes: 'deployments:write',
    createPool: 'deployments:write',
    resizePool: 'deployments:write',
    stripPool: 'deployments:write',
    refreshPool: 'deployments:write',
    recomposePool: 'deployments:write',
    reconcilePool: 'deployments:write',
    setTeamQuota: 'admin',
  },
  Subscription: {
    deploymentProgress: 'deployments:read',
  },
}

export function requireScope(context: Pick<GraphqlContext, 'principal'>, scope: Scope): Principal {
  const { principal } = context
  if (!principal) throw new Unauthorized(undefined, 'send a Bearer token')
  if (!hasScope(principal, scope)) throw new Forbidden({ required: scope }, scope)
  return principal
}

/** Any root resolver: each module types its own source and arguments (so `any`: they differ per field). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Resolver = GraphQLFieldResolver<any, GraphqlContext, any>

/**
 * The resolver behind the scope check; its service errors leave as GraphQLErrors with their code, and
 * a database too busy is 503 DATABASE_BUSY, and anything else (a bug, the database gone) is logged and leaves as INTERNAL_ERROR.
 */
export function guarded(scope: Scope, resolve: Resolver): Resolver {
  return async (source, args, context, info) => {
    try {
      requireScope(context, scope)
      return await resolve(source, args, context, info)
    } catch (err) {
      if (isServiceError(err)) throw toGraphqlError(err)
      const busy = databaseBusyFrom(err)
      if (busy) throw toGraphqlError(busy)
      context.app.log.error({ err, field: info.fieldName }, 'graphql resolver failed')
      throw toGraphqlError(new InternalError())
    }
  }
}

interface SubscriptionResolver {
  subscribe: Resolver
  resolve?: Resolver
}

/** Query, Mutation and Subscription resolvers, each field behind its declared scope. */
export function guardRootResolvers(resolvers: {
  Query: Record<string, Resolver>
  Mutation: Record<string, Resolver>
  Subscription: Record<string, SubscriptionResolver>
}) {
  const guardAll = (type: 'Query' | 'Mutation', fields: Record<string, Resolver>) =>
    Object.fromEntries(Object.entries(fields).map(([name, resolve]) => [name, guarded(scopeOf(type, name), resolve)]))
  return {
    Query: guardAll('Query', resolvers.Query),
    Mutation: guardAll('Mutation', resolvers.Mutation),
    Subscription: Object.fromEntries(
      Object.entries(resolvers.Subscription).map(([name, r]) => [
        name,
        { ...r, subscribe: guarded(scopeOf('Subscription', name), r.subscribe) },
      ]),
    ),
  }
}

function scopeOf(type: keyof typeof ROOT_FIELD_SCOPES, field: string): Scope {
  const scope = ROOT_FIELD_SCOPES[type][field]
  if (!scope) throw new Error(`${type}.${field} has no scope in ROOT_FIELD_SCOPES`)
  return scope
}

/**
 * preHandler of /graphql: the token first (nothing about the API is told without one), then one
 * operation per request.
 */
export function graphqlPreHandler(app: FastifyInstance) {
  return async function authenticateGraphqlRequest(request: FastifyRequest) {
    // The WebSocket upgrade is authenticated at connection_init instead.
    if ((request as { ws?: boolean }).ws) return
    await app.authenticate(request)
    if (Array.isArray(request.body)) {
      throw refusal('BATCHED_QUERIES_DISABLED', 'Batched queries are disabled: send one operation per request')
    }
  }
}

/** The token in a connection_init payload: `{"authorization": "Bearer ..."}` or `{"headers": {...}}`. */
function authorizationFrom(payload: unknown): string | undefined {
  if (!payload || typeof payload !== 'object') return undefined
  const p = payload as Record<string, unknown>
  const headers = (p.headers && typeof p.headers === 'object' ? p.headers : p) as Record<string, unknown>
  const value = headers.authorization ?? headers.Authorization
  return typeof value === 'string' ? value : undefined
}

/**
 * The principal of a WebSocket's connection_init, checked by app.authenticate like an HTTP request:
 * the payload's token is presented as a request's Authorization header, looked up by @fastify/jwt and
 * verified by app.verifyToken (same algorithm or JWKS key, claims, issuer, audience and age).
 */
export async function authenticateConnectionInit(app: FastifyInstance, payload: unknown): Promise<Principal> {
  const authorization = authorizationFrom(payload)
  const request = {
    headers: authorization === undefined ? {} : { authorization },
    principal: undefined as Principal | undefined,
    async jwtVerify() {
      return app.verifyToken(app.jwt.lookupToken(request as unknown as FastifyRequest))
    },
  }
  return app.authenticate(request as unknown as FastifyRequest)
}
