/**
 * Health for load balancers and orchestrators: unauthenticated on purpose, revealing no data.
 * /health/ready answers within READY_TIMEOUT_MS whatever happens: 503 when the database pool is
 * exhausted or does not answer, or when vCenter cannot be reached. Its vCenter check is shared and
 * cached, so that callers (anyone: it is open) cannot drive logins against the service account faster
 * than one per VCENTER_CHECK_PERIOD_MS.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]))),
})

/** The longest /health/ready takes to answer. */
export const READY_TIMEOUT_MS = 3_000
/** vCenter's answer is kept this long, either way: at most one check (and so one login) per period. */
const VCENTER_CHECK_PERIOD_MS = 5_000

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const vcenterCheck = cachedCheck(() => app.vcenter.ping(), { okTtlMs: VCENTER_CHECK_PERIOD_MS, failedTtlMs: VCENTER_CHECK_PERIOD_MS })

  app.get('/health/live', { schema: { operationId: 'getLiveness', summary: 'The process answers', tags: ['health'], security: [], response: { 200: Health } } }, async () => ({ status: 'ok' as const }))

  const readiness = {
    operationId: 'getReadiness',
    summary: 'PostgreSQL and vCenter both answer (within 3 s)',
    tags: ['health'],
    security: [],
    response: { 200: Health, 503: { ...Health, 'x-response-text': 'PostgreSQL or vCenter does not answer; `checks` says which' } },
  }
  app.get('/health/ready', { schema: readiness }, async (_request, reply) => {
    const [database, vcenter] = await Promise.all([
      withTimeout(databaseAnswers(app.database), READY_TIMEOUT_MS),
      withTimeout(vcenterCheck(), READY_TIMEOUT_MS),
    ])
    const checks = {
      database: database ? ('ok' as const) : ('unavailable' as const),
      vcenter: vcenter ? ('ok' as const) : ('unavailable' as const),
    }
    const ready = database && vcenter
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks })
  })
}

export default healthRoutes

interface DatabaseLike {
  pool: { totalCount: number; idleCount: number; waitingCount: number; options: { max?: number } }
  ping(): Promise<boolean>
}

/** False at once when every connection is taken and others already wait: a query would only queue. */
async function databaseAnswers(database: DatabaseLike): Promise<boolean> {
  const { pool } = database
  if (pool.idleCount === 0 && pool.waitingCount > 0 && pool.totalCount >= (pool.options.max ?? 10)) return false
  return database.ping()
}

/** The check's answer, or false once `ms` have passed. */
export function withTimeout(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  return Promise.race([check.catch(() => false), timedOut]).finally(() => clearTimeout(timer))
}

/**
 * A check run at most once at a time, whose answer is kept `okTtlMs` when true and `failedTtlMs`
 * when false: callers in between get the kept answer (or share the one running).
 */
export function cachedCheck(
  check: () => Promise<boolean>,
  ttl: { okTtlMs: number; failedTtlMs: number },
  now: () => number = Date.now,
): () => Promise<boolean> {
  let kept: { ok: boolean; until: number } | undefined
  let running: Promise<boolean> | undefined
  return () => {
    if (kept && now() < kept.until) return Promise.resolve(kept.ok)
    running ??= check()
      .catch(() => false)
      .then((ok) => {
        kept = { ok, until: now() + (ok ? ttl.okTtlMs : ttl.failedTtlMs) }
        running = undefined
        return ok
      })
    return running
  }
}
