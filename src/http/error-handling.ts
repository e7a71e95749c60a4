/**
 * Every failure a client can see, in one shape: {code, message, details}. The error handler turns
 * service errors, validation failures and fastify's own 4xx errors into the catalogue's codes (never
 * a 500 for a bad request), each with the request's `requestId`; unknown paths are 404 NOT_FOUND, known paths with another method are
 * 405 METHOD_NOT_ALLOWED with `Allow`; a URL with a malformed %-escape is 400 VALIDATION_FAILED.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import FindMyWay from 'find-my-way'
import {
  InternalError,
  MethodNotAllowed,
  PayloadTooLarge,
  RouteNotFound,
  UnsupportedMediaType,
  ValidationFailed,
  databaseBusyFrom,
  isServiceError,
  toErrorBody,
  type ServiceError,
} from '../errors.js'

/** Fastify's answer to a URL it cannot decode, in our shape (a Fastify constructor option). */
export const frameworkErrors: NonNullable<FastifyServerOptions['frameworkErrors']> = (err, request, reply) => {
  const serviceError =
    err.code === 'FST_ERR_BAD_URL' ? new ValidationFailed({ field: 'url' }, 'the URL has a malformed %-escape') : toServiceError(err)
  request.log.info({ code: serviceError.code }, serviceError.message)
  void (reply as FastifyReply).code(serviceError.statusCode).header('x-request-id', request.id).send(toErrorBody(serviceError, request.id))
}

export function installErrorHandling(app: FastifyInstance): void {
  // The methods each route path answers, to tell 405 from 404 (fastify's router only says "no route").
  const known = FindMyWay()
  const methodsByPath = new Map<string, Set<string>>()
  app.addHook('onRoute', (route) => {
    const path = route.url
    let methods = methodsByPath.get(path)
    if (!methods) {
      methods = new Set()
      methodsByPath.set(path, methods)
      known.on('GET', path, () => {}, { path })
    }
    for (const method of [route.method].flat()) methods.add(method)
  })
  const allowedMethods = (url: string): string[] => {
    const found = known.find('GET', url.split('?')[0] ?? url)
    const path = (found?.store as { path?: string } | undefined)?.path
    return path ? [...(methodsByPath.get(path) ?? [])].sort() : []
  }
  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]
    const allowed = allowedMethods(request.url)
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      const err = new MethodNotAllowed({ allowed }, request.method, path, allowed.join(', '))
      request.log.info({ code: err.code }, err.message)
      return reply.code(405).header('allow', allowed.join(', ')).send(toErrorBody(err, request.id))
    }
    return reply.code(404).send(toErrorBody(new RouteNotFound(undefined, `${request.method} ${path}`), request.id))
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // A method that must carry a body (QUERY) sent without a Content-Type, on a path it has no route on.
    if (err.code === 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE' && !allowedMethods(request.url).includes(request.method)) {
      return notFound(request, reply)
    }
    const serviceError = toServiceError(err)
    if (serviceError.statusCode >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: serviceError.code }, serviceError.message)
    return reply.code(serviceError.statusCode).send(toErrorBody(serviceError, request.id))
  })
  app.setNotFoundHandler(notFound)
}

/** Any error as one of the catalogue's: a bad request is a 4xx with its code; only our own faults are 500. */
export function toServiceError(err: FastifyError): ServiceError {
  if (isServiceError(err)) return err
  const busy = databaseBusyFrom(err)
  if (busy) return busy
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
    case 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE':
      return new UnsupportedMediaType()
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLarge()
  }
  if (err instanceof SyntaxError && err.statusCode === 400) return new ValidationFailed(undefined, 'the body is not valid JSON')
  // Any other 4xx of fastify's or a plugin's: the request was at fault, and says so in our shape.
  const status = err.statusCode ?? 500
  if (status === 413) return new PayloadTooLarge()
  if (status === 415) return new UnsupportedMediaType()
  if (status >= 400 && status < 500) return new ValidationFailed(undefined, err.message)
  return new InternalError()
}
