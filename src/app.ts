/**
 * The application: external plugins (auth), app plugins (database, queue, vCenter, deployments),
 * then routes, with one error handler that turns every failure into {code, message, details}.
 * server.ts builds and starts it; tests build it with inject().
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import assetsPlugin from './modules/clones/clones-plugin.js'
import type { Config } from './config/config.js'
import jwtPlugin from './http/auth-plugin.js'
import graphqlPlugin from './graphql/graphql-plugin.js'
import databasePlugin from './db/database-plugin.js'
import deploymentsPlugin from './modules/deployments/deployments-plugin.js'
import parentsPlugin from './modules/parents/parents-plugin.js'
import poolsPlugin from './modules/pools/pools-plugin.js'
import queuePlugin from './jobs/queue-plugin.js'
import vcenterPlugin from './vcenter/vcenter-plugin.js'
import * as graphqlSchema from './modules/graphql-schema.js'
import { frameworkErrors, installErrorHandling } from './http/error-handling.js'
import { loggerOptions } from './http/logging.js'
import type { DestinationStream } from 'pino'
import { installRequestGuards } from './http/request-guards.js'
import { installValidation } from './http/validation.js'
import healthRoutes from './http/health-routes.js'
import { genReqId, installRequestIdHeader } from './http/request-id.js'
import { installBrowserSecurity } from './http/browser-security.js'
import idempotencyPlugin from './modules/idempotency/idempotency-plugin.js'
import webhooksPlugin from './modules/webhooks/webhooks-plugin.js'
import teamsPlugin from './modules/teams/teams-plugin.js'
import teamRoutes from './modules/teams/teams-routes.js'
import webhookRoutes from './modules/webhooks/webhooks-routes.js'
import attributeRoutes from './modules/clones/attribute-routes.js'
import cloneRoutes from './modules/clones/clones-routes.js'
import deploymentRoutes from './modules/deployments/deployments-routes.js'
import reportRoutes from './modules/reports/reports-routes.js'
import poolRoutes from './modules/pools/pools-routes.js'
import parentRoutes from './modules/parents/parents-routes.js'
import contractPlugin from './http/contract/openapi-plugin.js'
import { printGraphqlSchema } from './graphql/sdl.js'
import metricsPlugin from './modules/operations/metrics-plugin.js'
import { ServiceMetrics } from './modules/operations/metrics.js'
import uiPlugin from './modules/ui/ui-plugin.js'
import auditPlugin from './modules/audit/audit-plugin.js'
import auditRoutes from './modules/audit/audit-routes.js'
import { installRateLimit } from './http/rate-limit.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface AppOptions {
  config: Config
  databaseUrl: string
  logger?: FastifyServerOptions['logger']
  /** Where the service's own logger writes (default stdout); ignored when `logger` is given. */
  logStream?: DestinationStream
  /** Run clone jobs in this process (default true). */
  runWorkers?: boolean
}


export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const runWorkers = options.runWorkers ?? true
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config.logLevel, options.logStream),
    bodyLimit: 256 * 1024,
    frameworkErrors,
    // X-Request-Id from the caller when valid, else a UUID (http/request-id.ts).
    genReqId,
    requestIdHeader: false,
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)
  installValidation(app)
  installErrorHandling(app)
  installRequestIdHeader(app)
  installRequestGuards(app)
  await installBrowserSecurity(app, config)

  // Made first: the vCenter gateway and the job runtime report to it as they start.
  const metrics = new ServiceMetrics()
  await app.register(jwtPlugin, { jwt: config.jwt })
  // Per caller, before any route's own hooks (http/rate-limit.ts).
  await installRateLimit(app, config.rateLimit)
  await app.register(databasePlugin, { databaseUrl: options.databaseUrl, secrets: config.secrets, dataDir: config.dataDir })
  await app.register(vcenterPlugin, { vcenter: config.vcenter, observer: metrics.vcenterObserver })
  // After the vCenter gateway, so that it stops first (onClose hooks run last to first): running jobs use the gateway.
  await app.register(queuePlugin, { databaseUrl: options.databaseUrl, config, runWorkers, limiterObserver: metrics.limiterObserver })
  // Before the routes, so that its response hook times every one of them.
  await app.register(metricsPlugin, { metrics, config: config.metrics, host: config.host })
  // Before the workers start: they write attributes through its store.
  await app.register(assetsPlugin, { runWorkers })
  await app.register(deploymentsPlugin, { limits: config.limits, runWorkers })
  await app.register(poolsPlugin, { limits: config.limits, runWorkers })
  await app.register(parentsPlugin, { runWorkers })
  await app.register(webhooksPlugin, { runWorkers })
  await app.register(teamsPlugin)
  // Before every route, /graphql included: its hooks record the writes of routes made after it.
  await app.register(auditPlugin)

  // Before every route, so that the generated contract sees them all.
  await app.register(contractPlugin, { graphqlSchema: printGraphqlSchema(graphqlSchema.typeDefs) })
  await app.register(graphqlPlugin, { databaseUrl: options.databaseUrl, nodeEnv: config.nodeEnv, schema: graphqlSchema })
  // Before the routes: its hooks apply to every /v1 write. Not in the contract's app: it needs the database.
  await app.register(idempotencyPlugin, {})
  await registerRoutes(app)
  // The page for people at /ui: static files, no token needed to load them (the API calls carry it).
  await app.register(uiPlugin)
  return app
}

/** The REST routes. Registering them touches no database or vCenter: that happens per request. */
async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(healthRoutes)
  await app.register(
    async (v1) => {
      await v1.register(deploymentRoutes)
      await v1.register(cloneRoutes)
      await v1.register(attributeRoutes)
      await v1.register(reportRoutes)
      await v1.register(poolRoutes)
      await v1.register(parentRoutes)
      await v1.register(webhookRoutes)
      await v1.register(teamRoutes)
      await v1.register(auditRoutes)
    },
    { prefix: '/v1' },
  )
}

/**
 * The routes and the contract without the service behind them (no database, vCenter or jobs): what
 * `npm run openapi` generates openapi.yaml from. Only the contract's own routes can answer.
 */
export async function buildContractApp(config: Config): Promise<FastifyInstance> {
  const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>()
  app.decorate('config', config)
  installValidation(app)
  await app.register(jwtPlugin, { jwt: config.jwt })
  await app.register(contractPlugin, { graphqlSchema: printGraphqlSchema(graphqlSchema.typeDefs) })
  await registerRoutes(app)
  await app.ready()
  return app
}
