/**
 * A rate limit per caller on the API (/v1 and /graphql): RATE_LIMIT_MAX requests per
 * RATE_LIMIT_WINDOW_SECONDS, keyed by the verified token's `sub` (a caller with no valid token: by
 * its IP), answering 429 RATE_LIMITED with Retry-After. Health, metrics, the docs, the contract and
 * the page's static files are not limited. RATE_LIMIT_MAX=0 turns it off.
 *
 * The counts are kept in this process's memory: with several replicas each counts on its own, so a
 * caller may make up to RATE_LIMIT_MAX per replica (a shared store is future work).
 */
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { RateLimited } from '../errors.js'

export interface RateLimitConfig {
  max: number
  windowSeconds: number
}

/** The API, not the probes, metrics, docs, contract or static files. */
export function isRateLimited(url: string): boolean {
  const path = url.split('?', 1)[0]!
  return path.startsWith('/v1/') || path === '/graphql'
}

/**
 * Checked in a root onRequest hook, so before any route's own hooks (the scope check): a caller
 * without a valid token is counted too. Its authentication is the one the route would do
 * (app.authenticate keeps the principal on the request).
 */
export async function installRateLimit(app: FastifyInstance, config: RateLimitConfig): Promise<void> {
  if (config.max === 0) return
  await app.register(rateLimit, {
    global: false,
    max: config.max,
    timeWindow: config.windowSeconds * 1000,
    keyGenerator: async (request: FastifyRequest) => {
      try {
        return `sub:${(await app.authenticate(request)).sub}`
      } catch {
        return `ip:${request.ip}`
      }
    },
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      return new RateLimited({ limit: context.max, retryAfterSeconds: seconds }, seconds)
    },
  })
  const limit = app.rateLimit()
  app.addHook('onRequest', async (request, reply) => {
    if (isRateLimited(request.url)) await limit.call(app, request, reply)
  })
}
