// HTTP transport for vim25 SOAP: one keep-alive connection pool per vCenter, the session cookie,
// timeouts, and mapping of every failure to a typed error (faults.ts). Counts the SOAP calls it
// sends (`callCount`, per method) for metrics and benchmarks.

import http from 'node:http'
import https from 'node:https'
import axios from 'axios'
import type { AxiosInstance } from 'axios'
import { buildRequest, parseResponse, parseXml, SoapParseError } from './envelope.js'
import type { RequestBody } from './envelope.js'
import { VimConnectionError, VimFault, VimHttpError } from './faults.js'
import type { ConnectionFailure } from './faults.js'
import { asArray, isObject, str } from './values.js'

export interface CallOptions {
  /** Whole-call deadline in ms (default: the transport's timeoutMs). */
  timeoutMs?: number
  signal?: AbortSignal
}

/** Sends one vim25 operation and returns its parsed `returnval` (govmomi's soap.RoundTripper). */
export interface RoundTripper {
  invoke(method: string, body: RequestBody, opts?: CallOptions): Promise<unknown>
}

/** The subset of a pino logger we use. */
export interface VimLogger {
  debug(obj: Record<string, unknown>, msg: string): void
  info(obj: Record<string, unknown>, msg: string): void
  warn(obj: Record<string, unknown>, msg: string): void
  error(obj: Record<string, unknown>, msg: string): void
}

export interface TransportOptions {
  /** `https://vcenter.example.com/sdk` (a URL without a path gets `/sdk`). Credentials in the URL are ignored. */
  url: string | URL
  /** Accept any server certificate (self-signed vCenter, simulator). */
  insecure?: boolean
  /** Default per-call timeout, ms. Default 60 s. */
  timeoutMs?: number
  /** vim25 API version for the SOAPAction header. Default '7.0'. */
  apiVersion?: string
  logger?: VimLogger
  /** Upper bound of concurrent connections to this vCenter. Default 64. */
  maxSockets?: number
  /** Told of every SOAP call once it has ended (metrics); an observer that throws is ignored. */
  onCall?: CallObserver
}

/** One SOAP call, ended: `outcome` is `ok`, the fault type, `http_<status>` or `connection`. */
export interface CallRecord {
  method: string
  outcome: string
  durationMs: number
}

export type CallObserver = (call: CallRecord) => void

/** The outcome label of a call that threw: bounded by vim25's fault types and HTTP statuses. */
export function callOutcome(err: unknown): string {
  if (err instanceof VimFault) return err.faultType
  if (err instanceof VimHttpError) return `http_${err.status}`
  if (err instanceof VimConnectionError) return 'connection'
  return 'error'
}

export const SESSION_COOKIE = 'vmware_soap_session'
export const DEFAULT_API_VERSION = '7.0'
const DEFAULT_TIMEOUT_MS = 60_000

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
])

function classify(code: string | undefined): ConnectionFailure {
  if (!code) return 'other'
  if (code === 'ECONNREFUSED') return 'refused'
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_SOCKET_CLOSED') return 'reset'
  if (code === 'ETIMEDOUT' || code === 'ECONNABORTED' || code === 'ESOCKETTIMEDOUT') return 'timeout'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns'
  if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'tls'
  return 'other'
}

function normalizeUrl(input: string | URL): URL {
  const u = new URL(String(input))
  u.username = ''
  u.password = ''
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/sdk'
  return u
}

export class SoapTransport implements RoundTripper {
  readonly url: string
  apiVersion: string
  readonly timeoutMs: number
  private readonly http: AxiosInstance
  private readonly agent: http.Agent
  private readonly logger: VimLogger | undefined
  private readonly onCall: CallObserver | undefined
  // Private fields are not shown by util.inspect/JSON: the cookie must never reach a log.
  #cookie: string | undefined
  #callCount = 0
  #byMethod = new Map<string, number>()

  constructor(opts: TransportOptions) {
    const url = normalizeUrl(opts.url)
    this.url = url.toString()
    this.apiVersion = opts.apiVersion ?? DEFAULT_API_VERSION
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.logger = opts.logger
    this.onCall = opts.onCall
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 }
    this.agent =
      url.protocol === 'https:'
        ? new https.Agent({ ...agentOpts, rejectUnauthorized: !opts.insecure })
        : new http.Agent(agentOpts)
    this.http = axios.create({
      httpAgent: url.protocol === 'http:' ? this.agent : undefined,
      httpsAgent: url.protocol === 'https:' ? this.agent : undefined,
      proxy: false,
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: (data: unknown) => data, // no JSON guessing
      validateStatus: () => true, // statuses are mapped below
    })
  }

  /** SOAP calls sent (every HTTP attempt, retries included). */
  get callCount(): number {
    return this.#callCount
  }

  callsByMethod(): Record<string, number> {
    return Object.fromEntries(this.#byMethod)
  }

  get hasSessionCookie(): boolean {
    return this.#cookie !== undefined
  }

  /** Forget the session cookie, so that the next Login starts a fresh session. */
  clearSessionCookie(): void {
    this.#cookie = undefined
  }

  async invoke(method: string, body: RequestBody, opts: CallOptions = {}): Promise<unknown> {
    const xml = buildRequest(method, body)
    this.#callCount++
    this.#byMethod.set(method, (this.#byMethod.get(method) ?? 0) + 1)

    const started = performance.now()
    let outcome = 'ok'
    try {
      return await this.send(method, xml, opts)
    } catch (err) {
      outcome = callOutcome(err)
      throw err
    } finally {
      if (this.onCall) {
        try {
          this.onCall({ method, outcome, durationMs: performance.now() - started })
        } catch {
          // an observer's failure is not the call's
        }
      }
    }
  }

  private async send(method: string, xml: string, opts: CallOptions): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const started = Date.now()
    const { status, data } = await this.post(method, xml, timeoutMs, opts.signal)
    this.logger?.debug({ method, status, ms: Date.now() - started }, 'vim25 call')

    let parsed
    try {
      parsed = parseResponse(data)
    } catch (err) {
      if (err instanceof SoapParseError) throw new VimHttpError(status, data, method, err.message)
      throw err
    }
    if (parsed.kind === 'fault') throw new VimFault(parsed.fault, method)
    if (status !== 200) throw new VimHttpError(status, data, method)
    return parsed.returnval
  }

  /**
   * The newest vim25 version the server offers, from /sdk/vimServiceVersions.xml (a plain GET,
   * not counted as a SOAP call). Undefined when the file is not served.
   */
  async fetchApiVersion(timeoutMs = 10_000): Promise<string | undefined> {
    const url = new URL(this.url)
    url.pathname = url.pathname.replace(/\/?$/, '/vimServiceVersions.xml')
    try {
      const res = await this.http.get<string>(url.toString(), { timeout: timeoutMs })
      if (res.status !== 200 || typeof res.data !== 'string') return undefined
      const doc = parseXml(res.data)
      const namespaces = doc.namespaces
      if (!isObject(namespaces)) return undefined
      for (const ns of asArray(namespaces.namespace)) {
        if (isObject(ns) && str(ns.name) === 'urn:vim25') return str(ns.version)
      }
    } catch {
      // fall back to the configured version
    }
    return undefined
  }

  close(): void {
    this.agent.destroy()
  }

  private async post(
    method: string,
    xml: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; data: string }> {
    // One deadline for the whole call (axios' own timeout is a socket-idle timeout).
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    const onAbort = () => controller.abort()
    if (signal?.aborted) controller.abort()
    else signal?.addEventListener('abort', onAbort, { once: true })

    const headers: Record<string, string> = {
      'Content-Type': 'text/xml; charset="utf-8"',
      SOAPAction: `"urn:vim25/${this.apiVersion}"`,
      'User-Agent': 'linked-clone-service/vim25',
    }
    if (this.#cookie !== undefined) headers.Cookie = `${SESSION_COOKIE}=${this.#cookie}`

    try {
      const res = await this.http.post<string>(this.url, xml, { headers, signal: controller.signal })
      this.captureCookie(res.headers['set-cookie'])
      return { status: res.status, data: typeof res.data === 'string' ? res.data : String(res.data ?? '') }
    } catch (err) {
      throw this.connectionError(method, err, timedOut, timeoutMs, signal)
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private captureCookie(setCookie: unknown): void {
    for (const line of asArray(setCookie as string | string[] | undefined)) {
      if (typeof line !== 'string') continue
      const first = line.split(';', 1)[0] ?? ''
      const eq = first.indexOf('=')
      if (eq > 0 && first.slice(0, eq).trim() === SESSION_COOKIE) {
        const value = first.slice(eq + 1).trim()
        this.#cookie = value === '' ? undefined : value
      }
    }
  }

  private connectionError(
    method: string,
    err: unknown,
    timedOut: boolean,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Error {
    const e = err as { code?: string; message?: string; cause?: { code?: string } }
    const errorCode = e.code ?? e.cause?.code
    let kind: ConnectionFailure
    let message: string
    if (timedOut) {
      kind = 'timeout'
      message = `${method}: no answer within ${timeoutMs} ms`
    } else if (signal?.aborted) {
      kind = 'aborted'
      message = `${method}: aborted`
    } else {
      kind = classify(errorCode)
      message = `${method}: ${e.message ?? 'connection failed'}`
    }
    // A fresh cause without axios' request config, which holds the cookie and the request body.
    const cause = new Error(e.message ?? String(err))
    if (errorCode) (cause as Error & { code?: string }).code = errorCode
    return new VimConnectionError(message, { kind, errorCode, method, cause })
  }
}
