// The session layer: a RoundTripper in front of the transport that
//   - logs in again when a call fails with NotAuthenticated (idle timeout, vCenter restart,
//     Logout elsewhere) and retries that call once. Concurrent callers share one re-login.
//   - retries idempotent read calls on connection errors / HTTP 5xx with exponential backoff
//     and jitter. Mutating calls (*_Task, setCustomValue, ...) are never retried: their outcome
//     is unknown after a transport error and callers settle it (e.g. by looking up the VM).
// `generation` counts logins: session-bound objects (property collectors, views) created under
// an older generation are gone, see task-watcher.ts.

import { VimFault, isFault, isTransientError } from './soap/faults.js'
import type { RequestBody } from './soap/envelope.js'
import type { CallOptions, RoundTripper, SoapTransport, VimLogger } from './soap/transport.js'
import { asArray, isObject } from './soap/values.js'
import * as methods from './methods.js'
import type { ServiceContent, UserSession } from './types.js'

/** Calls safe to repeat after a transport error: reads, plus Login (a failed one has no effect worth keeping). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'RetrieveServiceContent',
  'RetrievePropertiesEx',
  'ContinueRetrievePropertiesEx',
  'CurrentTime',
  'GetCustomizationSpec',
  'DoesCustomizationSpecExist',
  'FindByUuid',
  'FindByInventoryPath',
  'WaitForUpdatesEx',
  'Login',
])

export interface Credentials {
  username: string
  password: string
  locale?: string
}

export interface RetryPolicy {
  /** Attempts in total for idempotent calls (default 3). */
  attempts?: number
  /** First backoff delay, ms (default 250); doubles each attempt, full jitter. */
  baseDelayMs?: number
  /** Cap of a backoff delay, ms (default 5000). */
  maxDelayMs?: number
}

/** The client was closed: no more calls. */
export class VimSessionClosedError extends Error {
  override name = 'VimSessionClosedError'
  readonly code = 'VIM_SESSION_CLOSED'
  constructor(readonly method: string) {
    super(`vim25 session closed (${method})`)
  }
}

export class Session implements RoundTripper {
  /** Increments with every successful Login. */
  generation = 0
  loginCount = 0
  userSession: UserSession | undefined
  private content: ServiceContent | undefined
  private readonly username: string
  // Private: never shown by util.inspect or JSON.stringify.
  #password: string
  private readonly locale: string | undefined
  private readonly retry: Required<RetryPolicy>
  private relogging: Promise<void> | undefined
  private closed = false
  private readonly logger: VimLogger | undefined

  constructor(
    readonly transport: SoapTransport,
    credentials: Credentials,
    opts: { retry?: RetryPolicy; logger?: VimLogger } = {},
  ) {
    this.username = credentials.username
    this.#password = credentials.password
    this.locale = credentials.locale
    this.retry = { attempts: 3, baseDelayMs: 250, maxDelayMs: 5000, ...opts.retry }
    this.logger = opts.logger
  }

  get serviceContent(): ServiceContent {
    if (!this.content) throw new Error('vim25 session not started')
    return this.content
  }

  /** RetrieveServiceContent + Login. */
  async start(opts?: CallOptions): Promise<ServiceContent> {
    this.content = await methods.RetrieveServiceContent(this, opts)
    await this.login(opts)
    return this.content
  }

  /** Logs in (again). Prefer invoke(): it re-logs in by itself when needed. */
  async login(opts?: CallOptions): Promise<UserSession> {
    const content = this.serviceContent
    if (this.loginCount > 0) this.transport.clearSessionCookie() // start a fresh session
    const session = await methods.Login(
      this,
      { _this: content.sessionManager, userName: this.username, password: this.#password, locale: this.locale },
      opts,
    )
    this.userSession = session
    this.loginCount++
    this.generation++
    return session
  }

  /** Logs out and refuses further calls. A session that already ended is not an error. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (!this.content || !this.transport.hasSessionCookie) return
    try {
      await this.transport.invoke('Logout', { _this: this.content.sessionManager }, { timeoutMs: 10_000 })
    } catch (err) {
      if (!isFault(err, 'NotAuthenticated')) this.logger?.warn({ err: (err as Error).message }, 'vim25 logout failed')
    }
  }

  get isClosed(): boolean {
    return this.closed
  }

  async invoke(method: string, body: RequestBody, opts: CallOptions = {}): Promise<unknown> {
    if (this.closed && method !== 'Logout') throw new VimSessionClosedError(method)
    const generation = this.generation
    try {
      return await this.invokeWithRetry(method, body, opts)
    } catch (err) {
      if (!isFault(err, 'NotAuthenticated') || method === 'Login' || method === 'Logout' || this.closed) throw err
      this.logger?.info({ method }, 'vim25 session not authenticated, logging in again')
      await this.relogin(generation)
      return await this.invokeWithRetry(method, body, opts)
    }
  }

  /** Single-flight: callers that failed under the same generation share one Login. */
  private async relogin(staleGeneration: number): Promise<void> {
    if (this.generation !== staleGeneration) return // someone logged in since that call was sent
    this.relogging ??= this.login()
      .then(() => undefined)
      .finally(() => {
        this.relogging = undefined
      })
    await this.relogging
  }

  private async invokeWithRetry(method: string, body: RequestBody, opts: CallOptions): Promise<unknown> {
    const attempts = IDEMPOTENT_METHODS.has(method) ? Math.max(1, this.retry.attempts) : 1
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.transport.invoke(method, body, opts)
        if (method === 'RetrievePropertiesEx' || method === 'ContinueRetrievePropertiesEx') {
          throwIfNotAuthenticatedInMissingSet(result, method)
        }
        return result
      } catch (err) {
        if (attempt >= attempts || !isTransientError(err) || opts.signal?.aborted || this.closed) throw err
        const delay = Math.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1))
        this.logger?.warn(
          { method, attempt, delayMs: Math.round(delay), err: (err as Error).message },
          'vim25 call failed, retrying',
        )
        await sleep(delay, opts.signal)
      }
    }
  }
}

/**
 * Without a session, some servers (vcsim) answer RetrievePropertiesEx with every property in
 * missingSet as NotAuthenticated instead of a fault. Turn that into the fault, so the session
 * logs in again like for any other call.
 */
function throwIfNotAuthenticatedInMissingSet(result: unknown, method: string): void {
  if (!isObject(result)) return
  for (const o of asArray(result.objects)) {
    if (!isObject(o)) continue
    for (const m of asArray(o.missingSet)) {
      const fault = isObject(m) && isObject(m.fault) ? m.fault.fault : undefined
      if (isObject(fault) && fault._type === 'NotAuthenticated') {
        throw new VimFault(
          {
            faultCode: 'ServerFaultCode',
            faultString: 'not authenticated (missingSet)',
            faultType: 'NotAuthenticated',
            detail: fault,
          },
          method,
        )
      }
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
