/**
 * Errors over GraphQL. Every error a client sees carries `extensions.code`: the service's own codes
 * (errors.ts, the same as REST: PARENT_NOT_FOUND, VALIDATION_FAILED...) with their `details`, and the
 * refusals only GraphQL makes (below). Anything else is a bug: logged, and shown as INTERNAL_ERROR
 * without its message (a database error's text is not for clients).
 *
 * HTTP status: a request that produced data answers 200 (GraphQL's partial results); a request that
 * produced none answers the first error's status (401 without a valid token, 400 for a refused query,
 * 404/409/422/503 when deployLinkedClones is refused, as POST /v1/deployments would).
 */
import { GraphQLError, type ASTNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql'
import { InternalError, databaseBusyFrom, isServiceError, type ServiceError } from '../errors.js'

/**
 * Refusals of a query itself, before anything runs. GraphQL-only, so not in errors.ts (whose codes are
 * the REST API's Error enum in openapi.yaml).
 */
export const REFUSAL_STATUS = {
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  QUERY_TOO_DEEP: 400,
  TOO_MANY_ALIASES: 400,
  QUERY_TOO_COSTLY: 400,
  INTROSPECTION_DISABLED: 400,
  BATCHED_QUERIES_DISABLED: 400,
  TOO_MANY_MUTATIONS: 400,
  METHOD_NOT_ALLOWED: 405,
} as const
export type RefusalCode = keyof typeof REFUSAL_STATUS

export function refusal(
  code: RefusalCode,
  message: string,
  options: { nodes?: ASTNode | readonly ASTNode[]; details?: Record<string, unknown> } = {},
): GraphQLError {
  return new GraphQLError(message, {
    nodes: options.nodes,
    extensions: { code, ...(options.details ? { details: options.details } : {}) },
  })
}

/**
 * A service error as a GraphQLError that carries its code: what root resolvers throw, so that the
 * code survives paths that bypass the error formatter (a subscription refused at its start).
 */
export function toGraphqlError(err: ServiceError): GraphQLError {
  return new GraphQLError(err.message, { originalError: err, extensions: serviceExtensions(err) })
}

function serviceExtensions(err: ServiceError): Record<string, unknown> {
  return { code: err.code, ...(err.details ? { details: err.details } : {}) }
}

interface Presented {
  json: GraphQLFormattedError
  status: number
}

interface Logger {
  error(obj: object, msg: string): void
}

/** The innermost error: graphql-js and mercurius wrap the thrown error, sometimes twice. */
function rootCause(err: Error): Error {
  let cause: Error = err
  for (let inner = originalErrorOf(cause); inner; inner = originalErrorOf(cause)) cause = inner
  return cause
}

function originalErrorOf(err: Error): Error | undefined {
  const inner = (err as { originalError?: unknown }).originalError
  return inner instanceof Error ? inner : undefined
}

/** mercurius reports a failed validation as one error holding the list; a client wants the list. */
function expand(err: GraphQLError): Error[] {
  const cause = rootCause(err)
  const inner = (cause as { errors?: unknown }).errors
  if ((cause as { code?: string }).code === 'MER_ERR_GQL_VALIDATION' && Array.isArray(inner) && inner.length > 0) {
    return inner as Error[]
  }
  return [err]
}

function formatted(err: Error, message: string, extensions: Record<string, unknown>): GraphQLFormattedError {
  const gql = err instanceof GraphQLError ? err : undefined
  return {
    message,
    ...(gql?.locations ? { locations: gql.locations } : {}),
    ...(gql?.path ? { path: gql.path } : {}),
    extensions,
  }
}

export function presentError(err: Error, log: Logger): Presented {
  const cause = rootCause(err)
  if (isServiceError(cause)) {
    // An INTERNAL_ERROR here was made (and its cause logged) by the root resolver's guard.
    return { json: formatted(err, cause.message, serviceExtensions(cause)), status: cause.statusCode }
  }
  const code = (err as GraphQLError).extensions?.code
  if (typeof code === 'string' && code in REFUSAL_STATUS) {
    return { json: formatted(err, err.message, { ...(err as GraphQLError).extensions }), status: REFUSAL_STATUS[code as RefusalCode] }
  }
  if (cause instanceof GraphQLError) {
    // graphql-js's own parse and validation errors (unknown field, wrong variable type...).
    const refused: RefusalCode = /^Syntax Error/.test(cause.message) ? 'GRAPHQL_PARSE_FAILED' : 'GRAPHQL_VALIDATION_FAILED'
    return { json: formatted(err, err.message, { code: refused }), status: REFUSAL_STATUS[refused] }
  }
  const causeCode = (cause as { code?: string }).code
  if (causeCode === 'MER_ERR_METHOD_NOT_ALLOWED') {
    return {
      json: formatted(err, 'Mutations and subscriptions cannot be sent with GET; use POST (or the WebSocket)', { code: 'METHOD_NOT_ALLOWED' }),
      status: 405,
    }
  }
  const status = (cause as { statusCode?: number }).statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // The HTTP layer refused the request (a body that is not JSON, a missing query...).
    return { json: formatted(err, `The request is not valid: ${cause.message}`, { code: 'VALIDATION_FAILED' }), status: 400 }
  }
  const busy = databaseBusyFrom(cause)
  if (busy) return { json: formatted(err, busy.message, serviceExtensions(busy)), status: busy.statusCode }
  log.error({ err: cause }, 'graphql request failed')
  const internal = new InternalError()
  return { json: formatted(err, internal.message, { code: internal.code }), status: internal.statusCode }
}

/** mercurius's errorFormatter: the response's errors, and the HTTP status (see the file's comment). */
export function formatExecutionErrors(
  execution: ExecutionResult,
  context: { app: { log: Logger }; reply?: { log: Logger } },
): { statusCode: number; response: ExecutionResult & { errors: GraphQLFormattedError[] } } {
  const log = context.reply?.log ?? context.app.log
  const presented = (execution.errors ?? []).flatMap(expand).map((e) => presentError(e, log))
  const statusCode = execution.data ? 200 : (presented[0]?.status ?? 200)
  return {
    statusCode,
    response: { data: execution.data ?? null, errors: presented.map((p) => p.json) } as ExecutionResult & {
      errors: GraphQLFormattedError[]
    },
  }
}
