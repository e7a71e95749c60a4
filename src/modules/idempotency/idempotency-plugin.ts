/**
 * Idempotency keys on every POST, PATCH and DELETE under /v1 (Stripe's semantics): the first request
 * with a key claims it (a row in PostgreSQL, the lock: see the repository), runs, and its answer is
 * kept 24 hours; a repeat (same caller, key, method, path and body) gets that answer again with
 * `Idempotent-Replayed: true`, another request under the key 422 IDEMPOTENCY_KEY_REUSED, a repeat
 * while the first runs 409 IDEMPOTENCY_KEY_IN_USE with Retry-After. 5xx answers are not kept: the key
 * comes free and a retry runs again. Requests refused before their handler (authentication, scopes,
 * validation) claim nothing, as at Stripe.
 *
 * GraphQL mutations too: a POST /graphql whose operation is a mutation claims its key the same way
 * (the body hash covers the query text, operation name and variables); queries ignore the header.
 *
 * The claim is a preHandler rather than an onRequest hook: it needs the caller (authenticated in the
 * routes' onRequest) and the parsed body. The answer is kept in onSend, where its bytes are final.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { getOperationAST, parse } from 'graphql'
import { bodyFingerprint, isValidIdempotencyKey } from '../../domain/idempotency.js'
import { IdempotencyKeyInUse, IdempotencyKeyReused, ValidationFailed } from '../../errors.js'
import { IdempotencyKeyRepository } from '../../db/repositories/idempotency-keys.js'

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'
export const REPLAYED_HEADER = 'idempotent-replayed'
const METHODS = new Set(['POST', 'PATCH', 'DELETE'])
/** The answer's headers worth replaying. */
const KEPT_HEADERS = ['content-type', 'location', 'retry-after']

export interface IdempotencyOptions {
  /** How long keys and answers are kept (24 hours). */
  ttlSeconds?: number
  /** How long a request may hold its key before a repeat may take it over (its replica died). */
  leaseSeconds?: number
  /** The Retry-After of 409 IDEMPOTENCY_KEY_IN_USE. */
  retryAfterSeconds?: number
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { ownerSub: string; key: string; holder: string }
  }
}

export default fp(
  async function idempotencyPlugin(app, opts: IdempotencyOptions) {
    const ttlSeconds = opts.ttlSeconds ?? 24 * 3600
    const retryAfter = opts.retryAfterSeconds ?? 1
    const keys = new IdempotencyKeyRepository(app.database.db, ttlSeconds, opts.leaseSeconds ?? 300)

    app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers[IDEMPOTENCY_KEY_HEADER]
      if (header === undefined) return
      // Parsed here only when a key is sent: GraphQL parses (and caches) it again.
      const graphqlMutation = isGraphqlMutation(request)
      if (!graphqlMutation && (!METHODS.has(request.method) || !request.url.startsWith('/v1/'))) return
      const key = Array.isArray(header) ? header[0] ?? '' : header
      if (!isValidIdempotencyKey(key)) {
        throw new ValidationFailed({ field: 'Idempotency-Key' }, 'the Idempotency-Key header must be 1-255 printable ASCII characters')
      }
      // /graphql authenticates in its own route preHandler, after this one: the same check, earlier.
      // A caller it refuses claims nothing; the route answers it as GraphQL does.
      if (graphqlMutation) await app.authenticate(request).catch(() => undefined)
      const principal = request.principal
      if (!principal) return
      const wanted = {
        ownerSub: principal.sub,
        key,
        method: request.method,
        path: request.url,
        bodyHash: bodyFingerprint(request.body),
        requestId: request.id,
        holder: randomUUID(),
      }
      const claim = await keys.claim(wanted)
      if (claim.claimed) {
        request.idempotency = { ownerSub: wanted.ownerSub, key, holder: wanted.holder }
        return
      }
      const { existing } = claim
      if (existing.method !== wanted.method || existing.path !== wanted.path || existing.bodyHash !== wanted.bodyHash) {
        const what = existing.method !== wanted.method || existing.path !== wanted.path ? `${existing.method} ${existing.path.split('?')[0]}` : 'another body'
        throw new IdempotencyKeyReused({ key, firstRequestId: existing.requestId }, key, what)
      }
      if (existing.finishedAt === null || existing.responseStatus === null || existing.responseBody === null) {
        reply.header('retry-after', String(retryAfter))
        throw new IdempotencyKeyInUse({ key, retryAfterSeconds: retryAfter }, key, retryAfter)
      }
      request.log.info({ firstRequestId: existing.requestId, status: existing.responseStatus }, 'idempotent replay')
      reply.code(existing.responseStatus).headers(existing.responseHeaders ?? {}).header(REPLAYED_HEADER, 'true')
      return reply.send(existing.responseBody)
    })

    app.addHook('onSend', async (request, reply, payload) => {
      const held = request.idempotency
      if (!held) return payload
      request.idempotency = undefined
      try {
        const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined
        if (reply.statusCode >= 500 || body === undefined) {
          await keys.release(held.ownerSub, held.key, held.holder)
        } else {
          const headers: Record<string, string> = {}
          for (const name of KEPT_HEADERS) {
            const value = reply.getHeader(name)
            if (value !== undefined) headers[name] = String(value)
          }
          await keys.finish(held.ownerSub, held.key, held.holder, { status: reply.statusCode, headers, body })
        }
      } catch (err) {
        // The answer still goes out; the key stays held until its lease ends, then a repeat runs again.
        request.log.error({ err }, 'the idempotency key could not be updated')
      }
      return payload
    })

    // Keys past their 24 hours are taken over by a new claim; this keeps the table small.
    const sweep = setInterval(() => {
      keys.deleteExpired().catch((err: unknown) => app.log.warn({ err }, 'expired idempotency keys not deleted'))
    }, 3600_000)
    sweep.unref()
    app.addHook('onClose', async () => clearInterval(sweep))
  },
  { name: 'idempotency', dependencies: ['database'] },
)

/** A POST /graphql whose operation (the one named, or the only one) is a mutation. */
function isGraphqlMutation(request: FastifyRequest): boolean {
  if (request.method !== 'POST' || request.url.split('?')[0] !== '/graphql') return false
  const body = request.body as { query?: unknown; operationName?: unknown } | undefined
  if (!body || typeof body.query !== 'string') return false
  try {
    const operationName = typeof body.operationName === 'string' ? body.operationName : undefined
    return getOperationAST(parse(body.query, { noLocation: true }), operationName)?.operation === 'mutation'
  } catch {
    // Not a parsable document: GraphQL answers it, and nothing is claimed.
    return false
  }
}
