/**
 * What the service's logs may hold: never a token, a cookie, a password, a secret or a JWT, at any
 * depth pino can name; and a request is logged by its method, path and route, never its query string
 * (`?attribute=Admin%20Password:hunter2` is a filter a caller may send).
 */
import type { FastifyServerOptions } from 'fastify'
import type { DestinationStream } from 'pino'

const SECRET_KEYS = ['password', 'secret', 'secrets', 'token', 'jwt', 'authorization', 'cookie']

/** Redacted paths: the request's credentials, and every secret-named key up to four levels deep. */
export const LOG_REDACTIONS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["idempotency-key"]',
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]),
]

interface LoggedRequest {
  method: string
  url: string
  routeOptions?: { url?: string }
  ip?: string
}

/** The logger of the app: the configured level, the redactions, and requests without their query. */
export function loggerOptions(level: string, stream?: DestinationStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    redact: LOG_REDACTIONS,
    ...(stream ? { stream } : {}),
    serializers: {
      req(request: LoggedRequest) {
        return {
          method: request.method,
          path: request.url.split('?')[0],
          route: request.routeOptions?.url,
          remoteAddress: request.ip,
        }
      },
    },
  }
}
