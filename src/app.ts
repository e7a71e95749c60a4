/**
 * The application: external plugins (auth), app plugins (database, queue, vCenter, deployments),
 * then routes, with one error handler that turns every failure into {code, message, details}.
 * server.ts builds and starts it; tests build it with inject().
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import assetsPlugin from './assets/plugin.js'
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
import jwtPlugin from './plugins/external/jwt.js'
import graphqlPlugin from './plugins/external/mercurius.js'
import databasePlugin from './plugins/app/database.js'
import deploymentsPlugin from './plugins/app/deployments.js'
import parentsPlugin from './plugins/app/parents.js'
import poolDriftPlugin from './plugins/app/pool-drift.js'
import poolsPlugin from './plugins/app/pools.js'
import queuePlugin from './plugins/app/queue.js'
import vcenterPlugin from './plugins/app/vcenter.js'
import healthRoutes from './routes/health.js'
import attributeRoutes from './routes/v1/attributes.js'
import cloneRoutes from './routes/v1/clones.js'
import deploymentRoutes from './routes/v1/deployments.js'
import reportRoutes from './routes/v1/reports.js'
import poolRoutes from './routes/v1/pools.js'
import parentRoutes from './routes/v1/parents.js'
import poolDriftRoutes from './routes/v1/pool-drift.js'

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
  await app.register(databasePlugin, { databaseUrl: options.databaseUrl })
  await app.register(queuePlugin, { databaseUrl: options.databaseUrl })
  await app.register(vcenterPlugin, { vcenter: config.vcenter })
  // Before the workers start: they write attributes through its store.
  await app.register(assetsPlugin, {
    databaseUrl: options.databaseUrl,
    secrets: config.secrets,
    dataDir: config.dataDir,
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
