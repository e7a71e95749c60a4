/**
 * Metrics: a hook that times every response by route pattern and status, the scrape-time reads of the
 * database (records by status, queue depth, pool waiters), and GET /metrics, served
 * - with METRICS_PORT set: on a small listener of its own on that port, without a token (keep the
 *   port on a network only Prometheus reaches); the main port then has no /metrics;
 * - otherwise: on the main port, for a JWT with scope `metrics:read` (or `admin`), or for
 *   `Authorization: Bearer <METRICS_TOKEN>` when that is set (Prometheus' bearer_token, no expiry).
 * The ServiceMetrics object is made in app.ts before the gateway and the job runtime, which report to it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { MetricsConfig } from '../../config/config.js'
import { readOperationsSnapshot } from '../../db/repositories/operations.js'
import type { ServiceMetrics } from './metrics.js'
import metricsRoutes from './metrics-routes.js'

export interface MetricsPluginOptions {
  metrics: ServiceMetrics
  config: MetricsConfig
  /** The address the metrics listener binds (the service's HOST). */
  host: string
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServiceMetrics
  }
}

export default fp(
  async function metricsPlugin(app, opts: MetricsPluginOptions) {
    const { metrics, config } = opts
    app.decorate('metrics', metrics)
    metrics.setSources({
      snapshot: () => readOperationsSnapshot(app.database.pool),
      pools: () => ({ app: app.database.pool, session_locks: app.database.sessionLocks }),
      onReadError: (err) => app.log.warn({ err: { message: (err as Error).message } }, 'metrics: reading the database failed'),
    })

    app.addHook('onResponse', async (request, reply) => {
      metrics.observeRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime)
    })

    if (config.port === undefined) {
      const requireScope = app.requireScope('metrics:read')
      const token = config.token
      const guard = async (request: FastifyRequest, reply: FastifyReply) => {
        if (token !== undefined && bearerIs(request.headers.authorization, token)) return
        await requireScope.call(app, request, reply)
      }
      await app.register(metricsRoutes, { metrics, guard })
      app.addHook('onClose', async () => metrics.close())
      return
    }

    const listener = Fastify({ loggerInstance: app.log.child({ component: 'metrics' }), disableRequestLogging: true })
    await listener.register(metricsRoutes, { metrics })
    const port = config.port
    app.addHook('onReady', async () => {
      await listener.listen({ port, host: opts.host })
      app.log.info({ port }, 'metrics listening')
    })
    app.addHook('onClose', async () => {
      await listener.close()
      metrics.close()
    })
  },
  { name: 'metrics', dependencies: ['database', 'jwt-auth'] },
)

/** Whether the header is `Bearer <expected>`, compared in constant time. */
function bearerIs(header: string | undefined, expected: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '')
  if (!match) return false
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(match[1]!), digest(expected))
}
