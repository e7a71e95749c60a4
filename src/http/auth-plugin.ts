/**
 * Authentication: a Bearer JWT on every /v1 route and /graphql, checked with the one configured
 * algorithm (an `alg: none` or other-algorithm token is refused), with `exp` and `sub` required and
 * `iss`/`aud` checked when configured (`aud` required with a public key or a JWKS), `iat` against
 * JWT_MAX_AGE when set. With JWT_JWKS_URL the token's `kid` names the provider's key (fetched, cached,
 * fetched again for an unknown `kid`: rotation). Authorization: scopes from the space-separated `scope` claim,
 * and teams from the teams claim (JWT_TEAMS_CLAIM; domain/teams.ts): objects belong to teams.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import type { DecodedJwt } from 'fast-jwt'
import buildGetJwks from 'get-jwks'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
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
  /** The token's `exp` in milliseconds: a WebSocket is closed then (graphql/socket-expiry.ts). */
  expiresAt?: number
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
    /** Verifies a bare token with the checks of authenticate (for a WebSocket's connection_init). */
    verifyToken(token: string): Promise<FastifyRequest['user']>
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
    const { algorithm, key, jwksUrl, issuer, audience, maxAgeSeconds, teamsClaim } = opts.jwt
    const jwksKey = jwksUrl ? jwksSecret(jwksUrl) : undefined
    await app.register(fastifyJwt, {
      secret: jwksKey ?? (algorithm === 'HS256' ? key : { public: key }),
      ...(jwksUrl ? { decode: { complete: true } } : {}),
      verify: {
        algorithms: jwksUrl ? [...JWKS_ALGORITHMS] : [algorithm],
        requiredClaims: maxAgeSeconds ? ['exp', 'sub', 'iat'] : ['exp', 'sub'],
        ...(issuer ? { allowedIss: issuer } : {}),
        ...(audience ? { allowedAud: audience } : {}),
        // A number is seconds to @fastify/jwt (it converts it to fast-jwt's milliseconds).
        ...(maxAgeSeconds ? { maxAge: maxAgeSeconds } : {}),
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
        throw new Unauthorized(undefined, describeJwtError(err, maxAgeSeconds ? () => expiresLater(app, request) : undefined))
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new Unauthorized(undefined, 'the token has no "sub" claim')
      }
      if (payload.sub.includes('\u0000')) throw new Unauthorized(undefined, 'the token\'s "sub" claim contains a NUL character')
      const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [])
      const teams = teamsFromClaim(payload[teamsClaim], payload.sub)
      request.principal = { sub: payload.sub, scopes, teams, admin: scopes.has('admin'), expiresAt: payload.exp * 1000, requestId: request.id }
      return request.principal
    }

    app.decorate('authenticate', authenticate)
    app.decorate('verifyToken', async (token: string): Promise<FastifyRequest['user']> => {
      if (!jwksKey) return app.jwt.verify(token)
      // As request.jwtVerify does with the secret function: the header's kid picks the key.
      const decoded = app.jwt.decode<DecodedJwt>(token, { complete: true })
      if (!decoded) throw new JwksError('the token is malformed')
      return app.jwt.verify(token, { key: await jwksKey(undefined as never, decoded) })
    })
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

const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const

/**
 * @fastify/jwt's secret function: the public key the token's `kid` names in the provider's JWKS.
 * get-jwks caches each key (ten minutes; a stale copy serves when the provider is unreachable) and
 * fetches the set again for a `kid` it does not hold. The URL is the configured one, never the
 * token's `iss` (which a forger chooses); `iss` is checked by the verifier when JWT_ISSUER is set.
 */
function jwksSecret(jwksUrl: string) {
  const url = new URL(jwksUrl)
  const getJwks = buildGetJwks({ max: 100, ttl: 10 * 60_000, jwksPath: `${url.pathname}${url.search}` })
  const domain = url.origin
  // get-jwks's own PEM conversion knows RSA and EC only: node:crypto's also knows Ed25519 (EdDSA).
  const pems = new WeakMap<object, string>()
  return async (_request: FastifyRequest, token: DecodedJwt | Record<string, unknown>): Promise<string> => {
    const header = (token as DecodedJwt).header ?? {}
    const kid: unknown = header.kid
    const alg: unknown = header.alg
    if (typeof kid !== 'string' || kid === '') throw new JwksError('the token\'s header has no "kid" (the key it was signed with)')
    if (typeof alg !== 'string' || !(JWKS_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new JwksError('the token is signed with an algorithm this service does not accept')
    }
    let jwk: JsonWebKey & { use?: string }
    try {
      jwk = await getJwks.getJwk({ domain, alg, kid })
    } catch (err) {
      const code = (err as { code?: string }).code ?? ''
      if (code === 'JWK_NOT_FOUND') throw new JwksError('the token\'s "kid" names no key of the identity provider')
      throw new JwksError('the identity provider\'s keys could not be read')
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new JwksError('the token\'s "kid" names a key that is not for signatures')
    let pem = pems.get(jwk)
    if (pem === undefined) {
      try {
        pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
      } catch {
        throw new JwksError('the token\'s "kid" names a key this service cannot use')
      }
      pems.set(jwk, pem)
    }
    return pem
  }
}

/** A token refused while its key was looked up. */
class JwksError extends Error {
  constructor(readonly reason: string) {
    super(reason)
    this.name = 'JwksError'
  }
}

/** Whether the (already refused) token's `exp` is still ahead; read without verifying, for the message only. */
function expiresLater(app: FastifyInstance, request: FastifyRequest): boolean {
  try {
    // With a JWKS the decoder is set to answer the complete token (header and payload).
    const decoded = app.jwt.decode<{ exp?: unknown; payload?: { exp?: unknown } }>(app.jwt.lookupToken(request))
    const exp = (decoded?.payload ?? decoded)?.exp
    return typeof exp === 'number' && exp * 1000 > Date.now()
  } catch {
    return false
  }
}

/** A reason a person understands, without echoing the token. */
function describeJwtError(err: unknown, notYetExpired?: () => boolean): string {
  if (err instanceof JwksError) return err.reason
  const code = (err as { code?: string }).code ?? ''
  const message = err instanceof Error ? err.message : ''
  // fast-jwt words both alike: an `exp` still ahead means `iat` was too old for JWT_MAX_AGE.
  if (code.includes('EXPIRED') && notYetExpired?.()) return 'the token was issued too long ago (JWT_MAX_AGE); get a new one'
  if (code.includes('EXPIRED')) return 'the token has expired'
  if (code.includes('NO_AUTHORIZATION') || code.includes('BAD_REQUEST')) return 'the Authorization header must be "Bearer <token>"'
  if (code.includes('MALFORMED')) return 'the token is malformed'
  if (/algorithm/i.test(message)) return 'the token is signed with an algorithm this service does not accept'
  if (/\baud\b/i.test(message)) return 'the token was issued for another audience'
  if (/\biss\b/i.test(message)) return 'the token was issued by another party'
  if (/required|missing/i.test(message)) return 'the token lacks a required claim (exp and sub are required, and iat with JWT_MAX_AGE)'
  return 'the token is not valid'
}
