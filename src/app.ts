/**
 * The application: external plugins (auth), app plugins (database, queue, vCenter, deployments),
 * then routes, with one error handler that turns every failure into {code, message, details}.
 * server.ts builds and starts it; tests build it with inject().
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import assetsPlugin from './modules/clones/clones-plugin.js'
import type { Config } from './config/config.js'
import {
  InternalError,
  PayloadTooLarge,
  RouteNotFound,
  UnsupportedMediaType,
  ValidationFailed,
  isServiceError,
  toErrorBody,
  type ServiceError,
} from './errors.js'
import jwtPlugin from './http/auth-plugin.js'
import graphqlPlugin from './graphql/graphql-plugin.js'
import databasePlugin from './db/database-plugin.js'
import deploymentsPlugin from './modules/deployments/deployments-plugin.js'
import parentsPlugin from './modules/parents/parents-plugin.js'
import poolDriftPlugin from './modules/pools/drift-plugin.js'
import poolsPlugin from './modules/pools/pools-plugin.js'
import queuePlugin from './jobs/queue-plugin.js'
import vcenterPlugin from './vcenter/vcenter-plugin.js'
import healthRoutes from './http/health-routes.js'
import attributeRoutes from './modules/clones/attribute-routes.js'
import cloneRoutes from './modules/clones/clones-routes.js'
import deploymentRoutes from './modules/deployments/deployments-routes.js'
import reportRoutes from './modules/reports/reports-routes.js'
import poolRoutes from './modules/pools/pools-routes.js'
import parentRoutes from './modules/parents/parents-routes.js'
import poolDriftRoutes from './modules/pools/drift-routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface AppOptions {
  config: Config
  databaseUrl: string
  logger?: FastifyServerOptions['logger']
  /** Run clone jobs in this process (default true). */
  runWorkers?: boolean
}

/** Secrets never reach the logs. */
export const LOG_REDACTIONS = ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.token']

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel, redact: LOG_REDACTIONS },
    bodyLimit: 256 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)
  installValidation(app)
  installErrorHandling(app)
  // The API speaks JSON only: a text body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain')

  await app.register(jwtPlugin, { jwt: config.jwt })
  await app.register(databasePlugin, { databaseUrl: options.databaseUrl, secrets: config.secrets, dataDir: config.dataDir })
  await app.register(queuePlugin, { databaseUrl: options.databaseUrl })
  await app.register(vcenterPlugin, { vcenter: config.vcenter })
  // Before the workers start: they write attributes through its store.
  await app.register(assetsPlugin, {
    databaseUrl: options.databaseUrl,
    syncMinutes: config.attributeSyncMinutes,
    runWorkers: options.runWorkers ?? true,
  })
  await app.register(deploymentsPlugin, {
    databaseUrl: options.databaseUrl,
    limits: config.limits,
    runWorkers: options.runWorkers ?? true,
  })
  await app.register(poolsPlugin, {
    databaseUrl: options.databaseUrl,
    limits: config.limits,
    runWorkers: options.runWorkers ?? true,
    workers: Math.min(4, config.limits.perVcenter),
  })
  await app.register(parentsPlugin, { databaseUrl: options.databaseUrl, runWorkers: options.runWorkers ?? true })
  await app.register(poolDriftPlugin, {
    databaseUrl: options.databaseUrl,
    checkMinutes: config.driftCheckMinutes,
    runWorkers: options.runWorkers ?? true,
  })

  await app.register(graphqlPlugin, { databaseUrl: options.databaseUrl, nodeEnv: config.nodeEnv })
  await app.register(healthRoutes)
  await app.register(
    async (v1) => {
      await v1.register(deploymentRoutes)
      await v1.register(cloneRoutes)
      await v1.register(attributeRoutes)
      await v1.register(reportRoutes)
      await v1.register(poolRoutes)
      await v1.register(parentRoutes)
      await v1.register(poolDriftRoutes)
    },
    { prefix: '/v1' },
  )
  return app
}

/**
 * Bodies are validated strictly (a count of "25" is a type error, not 25); query strings and
 * params are text by nature and are coerced.
 */
function installValidation(app: FastifyInstance) {
  const make = (coerceTypes: boolean | 'array') => {
    const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
    addFormats.default(ajv)
    return ajv
  }
  const bodyAjv = make(false)
  const textAjv = make('array')
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))
}

function installErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const serviceError = toServiceError(err)
    if (serviceError.statusCode >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: serviceError.code }, serviceError.message)
    return reply.code(serviceError.statusCode).send(toErrorBody(serviceError))
  })
  app.setNotFoundHandler((request, reply) => {
    const err = new RouteNotFound(undefined, `${request.method} ${request.url.split('?')[0]}`)
    return reply.code(404).send(toErrorBody(err))
  })
}

function toServiceError(err: FastifyError): ServiceError {
  if (isServiceError(err)) return err
  if (err.validation) {
    const issues = err.validation.map((v) => ({
      path: `${err.validationContext ?? ''}${v.instancePath}`,
      message: v.message ?? 'is not valid',
    }))
    const first = issues[0]
    return new ValidationFailed({ issues }, first ? `${first.path} ${first.message}` : err.message)
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationFailed(undefined, 'the body is not valid JSON')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaType()
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLarge()
  }
  if (err instanceof SyntaxError && err.statusCode === 400) return new ValidationFailed(undefined, 'the body is not valid JSON')
  return new InternalError()
}
