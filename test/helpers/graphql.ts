/**
 * GraphQL over the app under test: POST /graphql through inject(), and a WebSocket client speaking
 * graphql-transport-ws to a listening app.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { TestService } from './service.js'

export interface GraphqlResponse {
  statusCode: number
  body: { data?: Record<string, any> | null; errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[] }
}

/** POSTs one operation; `scope` null sends no token. */
export async function gql(
  service: TestService,
  query: string,
  variables: Record<string, unknown> = {},
  scope: string | null = 'deployments:read deployments:write',
  sub = 'portal-user',
  teams?: string[],
): Promise<GraphqlResponse> {
  const headers = scope === null ? {} : service.auth(scope, sub, teams)
  const res = await service.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })
  return { statusCode: res.statusCode, body: res.json() }
}

/** Authorization headers the service must refuse, as the REST tests try them. */
export function invalidAuthorizations(service: TestService): [string, string][] {
  const sign = (options: Record<string, unknown>, claims: Record<string, unknown> = { sub: 'intruder', scope: 'admin' }) =>
    createSigner({ key: service.secret, expiresIn: 60_000, ...options } as any)(claims)
  const unsigned = (claims: object) =>
    `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
  return [
    ['not a bearer', 'Basic YWxpY2U6cHc='],
    ['garbage', 'Bearer not.a.token'],
    ['alg none', `Bearer ${unsigned({ sub: 'intruder', scope: 'admin', exp: Date.now() / 1000 + 60 })}`],
    ['another algorithm', `Bearer ${sign({ algorithm: 'HS512' })}`],
    ['another secret', `Bearer ${createSigner({ key: 'x'.repeat(40), expiresIn: 60_000 })({ sub: 'a', scope: 'admin' })}`],
    ['expired', `Bearer ${sign({ expiresIn: undefined }, { sub: 'a', scope: 'admin', exp: Math.floor(Date.now() / 1000) - 60 })}`],
    ['no sub', `Bearer ${sign({}, { scope: 'admin' })}`],
  ]
}

/** The codes of a response's errors. */
export const codes = (res: GraphqlResponse) => (res.body.errors ?? []).map((e) => e.extensions?.code)

export interface WsMessage {
  type: string
  id?: string
  payload?: any
}

/** A graphql-transport-ws connection that records every message it receives. */
export class WsClient {
  readonly messages: WsMessage[] = []
  closed: { code: number } | undefined
  private readonly waiters: (() => void)[] = []

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as WsMessage
      // The server's keep-alive pings are answered and not recorded.
      if (message.type === 'ping') return socket.send(JSON.stringify({ type: 'pong' }))
      this.messages.push(message)
      this.wake()
    })
    socket.on('close', (code) => {
      this.closed = { code }
      this.wake()
    })
  }

  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url, 'graphql-transport-ws')
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return new WsClient(socket)
  }

  send(message: WsMessage): void {
    this.socket.send(JSON.stringify(message))
  }

  /**
   * Waits until `done` holds for the messages received, up to the timeout. A socket closed before
   * `done` holds is a failure (it throws), so a test waiting for data cannot pass on a closed socket.
   */
  async until(done: (messages: WsMessage[]) => boolean, timeoutMs = 60_000): Promise<WsMessage[]> {
    await this.waitFor(() => {
      if (done(this.messages)) return true
      if (this.closed) throw new Error(`closed (${this.closed.code}) before the awaited messages; received ${this.received()}`)
      return false
    }, timeoutMs)
    return this.messages
  }

  /** Waits until the server closes the socket, up to the timeout (a socket left open throws). */
  async untilClosed(timeoutMs = 60_000): Promise<WsMessage[]> {
    await this.waitFor(() => this.closed !== undefined, timeoutMs)
    return this.messages
  }

  private async waitFor(holds: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!holds()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms; received ${this.received()}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  private received(): string {
    return JSON.stringify(this.messages).slice(0, 2000)
  }

  close(): void {
    this.socket.close()
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w()
  }
}

/** ws://127.0.0.1:port/graphql of an app listening on loopback. */
export async function listen(app: FastifyInstance): Promise<string> {
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return `${address.replace(/^http/, 'ws')}/graphql`
}

/**
 * Counts the SQL queries sent through the app's pool on behalf of a piece of work (told apart by their
 * async context, so the workers' own polling meanwhile is not counted). Call once per service.
 */
export function queryCounter(service: TestService) {
  const counting = new AsyncLocalStorage<string[]>()
  const pool = service.app.database.pool
  const original = pool.query
  pool.query = function (this: typeof pool, ...args: unknown[]) {
    const first = args[0] as string | { text: string }
    counting.getStore()?.push(typeof first === 'string' ? first : first.text)
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof pool.query
  return async function countQueries<T>(work: () => Promise<T>): Promise<{ result: T; queries: string[] }> {
    const queries: string[] = []
    return { result: await counting.run(queries, work), queries }
  }
}
