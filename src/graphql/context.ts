/**
 * What every resolver receives: the caller (set by the HTTP preHandler or at the WebSocket's
 * connection_init, see auth.ts) and the request's loaders. mercurius adds `app` (the fastify instance:
 * app.deployments, app.vcenter...) and, over HTTP, `reply`.
 */
import type { FastifyInstance } from 'fastify'
import type { Principal } from '../http/auth-plugin.js'
import type { Loaders } from './loaders.js'

export interface GraphqlContext {
  app: FastifyInstance
  principal?: Principal
  loaders: Loaders
}
