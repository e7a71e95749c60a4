// Typed errors of the vim25 client. Three families, so callers can decide what to do:
//   VimFault           the server answered with a SOAP fault (NotAuthenticated, DuplicateName, ...)
//   VimConnectionError no usable answer: refused, reset, timeout, TLS, DNS, aborted
//   VimHttpError       an HTTP answer that is not SOAP (proxy errors, 404, 503, ...)
// None of them carries request headers or bodies: cookies and passwords never end up in logs.

import type { SoapFaultBody } from './envelope.js'

export class VimFault extends Error {
  override name = 'VimFault'
  readonly code: string = 'VIM_FAULT'
  /** vim25 fault type, e.g. 'NotAuthenticated', 'DuplicateName', 'InvalidPowerState'. */
  readonly faultType: string
  readonly faultString: string
  readonly faultCode: string
  /** The parsed fault detail (`{ _type, ...fields }`), e.g. DuplicateName has `name` and `object`. */
  readonly detail: Record<string, unknown> | undefined
  /** The vim25 method that failed, when known. */
  readonly method: string | undefined

  constructor(fault: SoapFaultBody, method?: string) {
    const type = fault.faultType ?? (fault.faultCode || 'UnknownFault')
    super(`${method ? `${method}: ` : ''}${type}${fault.faultString ? `: ${fault.faultString}` : ''}`)
    this.faultType = type
    this.faultString = fault.faultString
    this.faultCode = fault.faultCode
    this.detail = fault.detail
    this.method = method
  }
}

export type ConnectionFailure = 'refused' | 'reset' | 'timeout' | 'tls' | 'dns' | 'aborted' | 'other'

export class VimConnectionError extends Error {
  override name = 'VimConnectionError'
  readonly code = 'VIM_CONNECTION_ERROR'
  readonly kind: ConnectionFailure
  /** The underlying error code, e.g. ECONNREFUSED, ECONNABORTED, DEPTH_ZERO_SELF_SIGNED_CERT. */
  readonly errorCode: string | undefined
  readonly method: string | undefined

  constructor(message: string, opts: { kind: ConnectionFailure; errorCode?: string; method?: string; cause?: Error }) {
    super(message, opts.cause ? { cause: opts.cause } : undefined)
    this.kind = opts.kind
    this.errorCode = opts.errorCode
    this.method = opts.method
  }
}

export class VimHttpError extends Error {
  override name = 'VimHttpError'
  readonly code = 'VIM_HTTP_ERROR'
  readonly status: number
  readonly method: string | undefined
  /** The start of the response body, for diagnosis. */
  readonly body: string

  constructor(status: number, body: string, method?: string, reason?: string) {
    super(`${method ? `${method}: ` : ''}HTTP ${status}${reason ? ` (${reason})` : ''}`)
    this.status = status
    this.body = body.slice(0, 500)
    this.method = method
  }
}

/**
 * True when `err` is a vim25 fault, optionally of the given type (exact type name: the
 * fault hierarchy is not modelled, so 'InvalidArgument' does not match 'InvalidPropertyValue').
 */
export function isFault(err: unknown, faultType?: string): err is VimFault {
  return err instanceof VimFault && (faultType === undefined || err.faultType === faultType)
}

/** For ManagedObjectNotFound and similar faults: the `obj` of the detail, if any. */
export function faultObject(err: VimFault): { type: string; value: string } | undefined {
  const obj = err.detail?.obj
  if (typeof obj === 'object' && obj !== null) {
    const { type, value } = obj as Record<string, unknown>
    if (typeof type === 'string' && typeof value === 'string') return { type, value }
  }
  return undefined
}

/** Transport-level failures worth retrying (for idempotent calls only). */
export function isTransientError(err: unknown): boolean {
  if (err instanceof VimConnectionError) return err.kind !== 'tls' && err.kind !== 'aborted'
  if (err instanceof VimHttpError) return err.status >= 500 || err.status === 429
  return false
}
