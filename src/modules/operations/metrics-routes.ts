/**
 * GET /metrics in Prometheus' text format. On the main port it needs a token (see metrics-plugin.ts);
 * on METRICS_PORT's own listener it is open, the network being its guard.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { onRequestAsyncHookHandler } from 'fastify'
import { ErrorResponse, authErrors } from '../../http/common-schemas.js'
import type { ServiceMetrics } from './metrics.js'

export const metricsSchema = {
  operationId: 'getMetrics',
  summary: 'The service\'s metrics in Prometheus text format (scope metrics:read, or METRICS_TOKEN)',
  tags: ['operations'],
  produces: ['text/plain'],
  response: { 200: Type.String({ description: 'Prometheus text exposition format 0.0.4' }), ...authErrors, 500: ErrorResponse },
}

export interface MetricsRoutesOptions {
  metrics: ServiceMetrics
  /** The check on the main port; none on the metrics listener. */
  guard?: onRequestAsyncHookHandler
}

const metricsRoutes: FastifyPluginAsyncTypebox<MetricsRoutesOptions> = async (app, opts) => {
  const { metrics, guard } = opts
  app.get('/metrics', { schema: metricsSchema, ...(guard ? { onRequest: guard } : {}) }, async (_request, reply) => {
    const text = await metrics.scrape()
    return reply.type(metrics.contentType).header('cache-control', 'no-store').send(text)
  })
}

export default metricsRoutes
