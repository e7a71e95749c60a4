/**
 * Every error a client can see: a stable code, an HTTP status and a message a person understands,
 * in the manner of fastify's lib/errors.js; `details` carries structured context (the conflicting
 * names, the missing setting...) and is sent as the body's `details`.
 *
 * Every layer may throw these, the pure domain included, so this file imports no framework: the
 * classes are plain Errors (what @fastify/error made, minus its tie to fastify's packages).
 */
import { format } from 'node:util'

export interface ErrorBody {
  code: string
  message: string
  details?: Record<string, unknown>
  /** The request's X-Request-Id, to find its log lines. */
  requestId?: string
}

/** An error that knows how to present itself to a client. */
export interface ServiceError extends Error {
  code: string
  statusCode: number
  details?: Record<string, unknown>
}

/** Our own codes, so that the error handler tells them from fastify's and libraries' errors. */
const SERVICE_ERROR_CODES = new Set<string>()
/** Each code's HTTP status, for the generated contract's descriptions. */
const SERVICE_ERROR_STATUS = new Map<string, number>()

/** A catalogue entry: `new X(details?, ...args)` fills the message's `%s` with args, in order. */
function define(code: string, statusCode: number, message: string) {
  SERVICE_ERROR_CODES.add(code)
  SERVICE_ERROR_STATUS.set(code, statusCode)
  return class extends Error implements ServiceError {
    readonly code = code
    readonly statusCode = statusCode
    details?: Record<string, unknown>
    constructor(details?: Record<string, unknown>, ...args: unknown[]) {
      const last = args.at(-1)
      const cause = last && typeof last === 'object' && 'cause' in last ? (args.pop() as { cause: unknown }).cause : undefined
      super(format(message, ...args), cause === undefined ? undefined : { cause })
      this.name = 'ServiceError'
      if (details && Object.keys(details).length > 0) this.details = details
    }
  }
}

export const ValidationFailed = define('VALIDATION_FAILED', 400, 'The request is not valid: %s')
export const Unauthorized = define('UNAUTHORIZED', 401, 'Authentication required: %s')
export const Forbidden = define('FORBIDDEN', 403, 'This token lacks the scope "%s" needed here')
export const DeploymentNotFound = define('DEPLOYMENT_NOT_FOUND', 404, 'No deployment with id "%s"')
export const CloneNotFound = define('CLONE_NOT_FOUND', 404, 'No clone named "%s" was made by this service')
export const CloneNotReady = define('CLONE_NOT_READY', 409, 'The clone "%s" is %s; its attributes can be set once it is ready')
export const CloneGone = define('CLONE_GONE', 410, 'The clone "%s" no longer exists in vCenter; its records are kept')
export const InsufficientSpace = define(
  'INSUFFICIENT_SPACE',
  422,
  'The datastore "%s" has %s GB free; %s linked clones need about %s GB (each its delta and, powered on, a swap file)',
)
export const PoolNotFound = define('POOL_NOT_FOUND', 404, 'No pool named "%s"')
export const PoolBusy = define('POOL_BUSY', 409, 'The pool "%s" is changing; try again once its current deployment is over')
export const ParentAmbiguous = define(
  'PARENT_AMBIGUOUS',
  409,
  'Several virtual machines are named "%s"; rename all but the parent before preparing it',
)
export const ParentInUse = define(
  'PARENT_IN_USE',
  409,
  'The parent "%s" has running clones made from an older snapshot (pools: %s); stop them, or ask for "recompose": true',
)
export const ParentBusy = define('PARENT_BUSY', 409, 'The parent "%s" is busy (%s); try again once that is over')
export const PreparationNotFound = define('PREPARATION_NOT_FOUND', 404, 'No preparation %s of the parent "%s"')
export const SnapshotAmbiguous = define('SNAPSHOT_AMBIGUOUS', 409, 'The parent "%s" has several snapshots named "%s"; name one by its moref')
export const SnapshotNameTaken = define(
  'SNAPSHOT_NAME_TAKEN',
  409,
  'The parent "%s" already has a snapshot named "%s" that no preparation made; choose another "snapshotName"',
)
export const SnapshotInUse = define(
  'SNAPSHOT_IN_USE',
  409,
  'The snapshot "%s" is used by %s live clones (pools: %s); it can be removed or reverted to once they are destroyed',
)
export const VcenterRefused = define('VCENTER_REFUSED', 502, 'vCenter refused the change: %s')
export const RouteNotFound = define('NOT_FOUND', 404, 'No route %s')
export const MethodNotAllowed = define('METHOD_NOT_ALLOWED', 405, 'The method %s is not allowed on %s; it answers %s')
export const ParentNotFound = define('PARENT_NOT_FOUND', 404, 'No virtual machine named "%s" exists in vCenter')
export const NameConflict = define('NAME_CONFLICT', 409, 'These virtual machine names already exist in vCenter: %s')
export const SnapshotMissing = define(
  'SNAPSHOT_MISSING',
  422,
  'The parent "%s" has no current snapshot; take one (powered off) before deploying linked clones from it',
)
export const SnapshotNotFound = define(
  'SNAPSHOT_NOT_FOUND',
  404,
  'The parent "%s" has no snapshot %s; GET /v1/parents/{name}/snapshots lists those it has',
)
export const CustomizationSpecNotFound = define('CUSTOMIZATION_SPEC_NOT_FOUND', 422, '%s')
export const NoHostAvailable = define(
  'NO_HOST_AVAILABLE',
  422,
  'No connected host outside maintenance mode can run clones of "%s"',
)
export const DatabaseBusy = define('DATABASE_BUSY', 503, 'The database is too busy to answer now (%s); nothing was changed, try again')
export const VcenterUnavailable = define('VCENTER_UNAVAILABLE', 503, 'vCenter cannot be reached: %s')
export const UnsupportedMediaType = define('UNSUPPORTED_MEDIA_TYPE', 415, 'Send JSON with "Content-Type: application/json"')
export const PayloadTooLarge = define('PAYLOAD_TOO_LARGE', 413, 'The request body is too large')
// Integrations: idempotency keys and webhooks.
export const IdempotencyKeyReused = define(
  'IDEMPOTENCY_KEY_REUSED',
  422,
  'The Idempotency-Key "%s" was used with another request (%s); use a new key for a new request',
)
export const IdempotencyKeyInUse = define(
  'IDEMPOTENCY_KEY_IN_USE',
  409,
  'A request with the Idempotency-Key "%s" is still being answered; retry after %s seconds',
)
export const WebhookNotFound = define('WEBHOOK_NOT_FOUND', 404, 'No webhook subscription with id "%s"')
export const WebhookDeliveryNotFound = define('WEBHOOK_DELIVERY_NOT_FOUND', 404, 'The webhook subscription "%s" has no delivery "%s"')
export const WebhookUrlForbidden = define('WEBHOOK_URL_FORBIDDEN', 422, 'The webhook URL is not allowed: %s')
// Teams, quotas and limits (domain/teams.ts).
export const TeamRequired = define(
  'TEAM_REQUIRED',
  400,
  'This token belongs to several teams ("%s"); say which one owns the new object in the "team" field',
)
export const TeamForbidden = define('TEAM_FORBIDDEN', 403, 'This token is not a member of the team "%s"')
export const TeamNotFound = define('TEAM_NOT_FOUND', 404, 'No team "%s" is known to this service')
export const QuotaExceeded = define('QUOTA_EXCEEDED', 422, 'The team "%s" would exceed its quota: %s')
export const RateLimited = define('RATE_LIMITED', 429, 'Too many requests from this caller; retry after %s seconds')
export const InternalError = define('INTERNAL_ERROR', 500, 'Something went wrong on our side; the error was logged')

/** Every code a client can receive. */
export function serviceErrorCodes(): string[] {
  return [...SERVICE_ERROR_CODES]
}

/** Every code with its HTTP status, in the catalogue's order. */
export function serviceErrorStatuses(): [code: string, status: number][] {
  return [...SERVICE_ERROR_STATUS]
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && SERVICE_ERROR_CODES.has((err as ServiceError).code)
}

/**
 * A database failure that means "too busy", as 503 DATABASE_BUSY: pg-pool's connection timeout
 * (openDatabase's connectionTimeoutMillis), a lock wait past lock_timeout (55P03) or a statement past
 * statement_timeout (57014). Looked for along the error's causes (drizzle wraps pg's errors).
 */
export function databaseBusyFrom(err: unknown): ServiceError | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { message, code } = e as { message?: string; code?: string }
    if (typeof message === 'string' && /timeout exceeded when trying to connect/i.test(message)) {
      return new DatabaseBusy({ reason: 'no connection' }, 'no connection came free in time')
    }
    // A new connection that PostgreSQL did not answer within connectionTimeoutMillis (an overloaded
    // server, or this process's event loop too busy to read the answer): busy, not broken.
    if (typeof message === 'string' && /connection terminated due to connection timeout/i.test(message)) {
      return new DatabaseBusy({ reason: 'connect timeout' }, 'the database did not accept a connection in time')
    }
    if (code === '55P03') return new DatabaseBusy({ reason: 'lock timeout' }, 'a lock was not granted in time')
    if (code === '57014') return new DatabaseBusy({ reason: 'statement timeout' }, 'a statement took too long')
  }
  return undefined
}

export function toErrorBody(err: ServiceError, requestId?: string): ErrorBody {
  const body: ErrorBody = { code: err.code, message: err.message }
  if (err.details) body.details = err.details
  if (requestId !== undefined) body.requestId = requestId
  return body
}
