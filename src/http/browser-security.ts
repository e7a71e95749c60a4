/**
 * What browsers need: CORS for the portals listed in CORS_ORIGINS (none by default: no
 * Access-Control-* header is sent, so no other origin can read an answer), and helmet's security
 * headers. The content security policy is on in production only: elsewhere GraphiQL is served and
 * loads its scripts from a CDN.
 */
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/config.js'
import { REQUEST_ID_HEADER } from './request-id.js'

export async function installBrowserSecurity(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: config.nodeEnv === 'production' ? { useDefaults: true } : false,
  })
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', REQUEST_ID_HEADER],
      exposedHeaders: [REQUEST_ID_HEADER, 'location', 'link', 'retry-after', 'idempotent-replayed'],
      maxAge: 600,
    })
  }
}
