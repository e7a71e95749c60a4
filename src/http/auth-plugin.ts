/**
 * Authentication: a Bearer JWT on every /v1 route and /graphql, checked with the one configured
 * algorithm (an `alg: none` or other-algorithm token is refused), with `exp` and `sub` required and
 * `iss`/`aud` checked when configured. Authorization: scopes from the space-separated `scope` claim,
 * and teams from the teams claim (JWT_TEAMS_CLAIM; domain/teams.ts): objects belong to teams.
 */
import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { JwtConfig } from '../config/config.js'
import { teamsFromClaim, type TeamMember } from '../domain/teams.js'
import { Forbidden, Unauthorized } from '../errors.js'

/**
 * deployments:read/write: deployments and pools of the caller's teams; parents:write: prepare a
 * parent, delete or revert its snapshots; secrets:read/write: read or write attributes holding
 * secrets; admin: everything, every team's objects.
 */
export const SCOPES = [
  'deployments:read',
  'deployments:write',
  'parents:write',
  'secrets:read',
  'secrets:write',
  'admin',
  'metrics:read',
] as const
export type Scope = (typeof SCOPES)[number]

export interface Principal extends TeamMember {
  sub: string
  scopes: ReadonlySet<string>
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string; scope?: string; exp: number; [claim: string]: unknown }
    user: { sub: string; scope?: string; exp: number; [claim: string]: unknown }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * onRequest: a valid token with this scope (or `admin`) is required, checked before the body is
     * parsed or validated, so that a caller without one learns nothing of what the route expects.
     */
    requireScope(scope: Scope): onRequestAsyncHookHandler
    /** The request's principal from its Bearer token (the checks of every /v1 route); throws Unauthorized. */
    authenticate(request: FastifyRequest): Promise<Principal>
  }
  interface FastifyRequest {
    principal?: Principal
  }
}

/** `admin` holds every scope. */
export function hasScope(principal: Principal | undefined, scope: Scope): boolean {
  return !!principal && (principal.scopes.has(scope) || principal.scopes.has('admin'))
}

export default fp(
  async function jwtPlugin(app, opts: { jwt: JwtConfig }) {
    const { algorithm, key, issuer, audience, teamsClaim } = opts.jwt
    await app.register(fastifyJwt, {
      secret: algorithm === 'HS256' ? key : { public: key },
      verify: {
        algorithms: [algorithm],
        requiredClaims: ['exp', 'sub'],
        ...(issuer ? { allowedIss: issuer } : {}),
        ...(audience ? { allowedAud: audience } : {}),
      },
    })

    async function authenticate(request: FastifyRequest): Promise<Principal> {
      if (request.principal) return request.principal
      if (!request.headers.authorization) {
        throw new Unauthorized(undefined, 'send an "Authorization: Bearer <token>" header')
      }
      let payload: FastifyRequest['user']
      try {
        payload = await request.jwtVerify()
      } catch (err) {
        throw new Unauthorized(undefined, describeJwtError(err))
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new Unauthorized(undefined, 'the token has no "sub" claim')
      }
      if (payload.sub.includes('\u0000')) throw new Unauthorized(undefined, 'the token\'s "sub" claim contains a NUL character')
      const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [])
      const teams = teamsFromClaim(payload[teamsClaim], payload.sub)
      request.principal = { sub: payload.sub, scopes, teams, admin: scopes.has('admin') }
      return request.principal
    }

    app.decorate('authenticate', authenticate)
    app.decorate('requireScope', (scope: Scope) => {
      async function requireScope(request: FastifyRequest, _reply: FastifyReply) {
        const principal = await authenticate(request)
        if (!hasScope(principal, scope)) throw new Forbidden({ required: scope }, scope)
      }
      // The route's scope, for whoever looks at its hooks (the audit records it).
      return Object.assign(requireScope, { scope })
    })
  },
  { name: 'jwt-auth' },
)

/** A reason a person understands, without echoing the token. */
function describeJwtError(err: unknown): string {
  const code = (err as { code?: string }).code ?? ''
  if (code.includes('EXPIRED')) return 'the token has expired'
  if (code.includes('NO_AUTHORIZATION') || code.includes('BAD_REQUEST')) return 'the Authorization header must be "Bearer <token>"'
  if (code.includes('MALFORMED')) return 'the token is malformed'
  const message = err instanceof Error ? err.message : ''
  if (/algorithm/i.test(message)) return 'the token is signed with an algorithm this service does not accept'
  if (/iss|aud/i.test(message)) return 'the token was issued by or for another party'
  if (/required|missing/i.test(message)) return 'the token lacks a required claim (exp and sub are required)'
  return 'the token is not valid'
}
