/**
 * A proxy between the service and the simulator that injects the faults of a real network and a
 * real vCenter: dropped connections (before or after vCenter acted), NotAuthenticated answers
 * (an expired session), slow answers, and vCenter unreachable for a while. It also reports each
 * SOAP call passing through, so a test can act at an exact moment (e.g. kill the service right
 * after CloneVM_Task answers).
 */
import { EventEmitter } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'

export type Fault = 'dropBefore' | 'dropAfter' | 'notAuthenticated'

/**
 * Run before a call is handled, with the call's SOAP body; it may answer a fault to inject into that
 * call. Awaited: the call waits until it returns (a test can hold a call this way).
 */
export type Hook = (body: string) => Promise<Fault | void> | Fault | void

export interface FaultCounts {
  dropBefore: number
  dropAfter: number
  notAuthenticated: number
  refused: number
  delayed: number
}

const NOT_AUTHENTICATED = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The session is not authenticated.</faultstring>
<detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="SessionManager">SessionManager</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>`

export class FaultProxy extends EventEmitter {
  readonly counts: FaultCounts = { dropBefore: 0, dropAfter: 0, notAuthenticated: 0, refused: 0, delayed: 0 }
  /** Faults to inject on the next calls of a method ('*' for any), in order. */
  private readonly planned = new Map<string, Fault[]>()
  /** A fault injected at random on this share of calls (0..1), with the methods it may hit. */
  private chaos?: { rate: number; faults: Fault[]; methods?: RegExp }
  /** Hooks run (awaited) before calls of a method are handled, e.g. to change vCenter behind the service's back at an exact moment. */
  private readonly hooks = new Map<string, Set<Hook>>()
  private downUntil = 0
  private delayMs = 0
  private server?: http.Server
  private readonly agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false })

  constructor(private readonly target: string) {
    super()
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/sdk`
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((r) => this.server?.close(r))
    this.agent.destroy()
  }

  plan(method: string, ...faults: Fault[]): void {
    this.planned.set(method, [...(this.planned.get(method) ?? []), ...faults])
  }

  setChaos(chaos?: { rate: number; faults: Fault[]; methods?: RegExp }): void {
    this.chaos = chaos
  }

  setDelay(ms: number): void {
    this.delayMs = ms
  }

  /** vCenter unreachable: every connection is cut at once for this long (until comeBack without one). */
  goDown(ms = Infinity): void {
    this.downUntil = Date.now() + ms
  }

  /** vCenter reachable again. */
  comeBack(): void {
    this.downUntil = 0
  }

  /** Runs `hook` before every call of `method` until the returned function removes it. */
  intercept(method: string, hook: Hook): () => void {
    const hooks = this.hooks.get(method) ?? new Set<Hook>()
    this.hooks.set(method, hooks)
    hooks.add(hook)
    return () => void hooks.delete(hook)
  }

  /** Runs `hook` before the next call of `method` only. */
  interceptOnce(method: string, hook: Hook): void {
    const remove = this.intercept(method, (body) => {
      remove()
      return hook(body)
    })
  }

  get isDown(): boolean {
    return Date.now() < this.downUntil
  }

  get injected(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0)
  }

  private nextFault(method: string): Fault | undefined {
    for (const key of [method, '*']) {
      const list = this.planned.get(key)
      if (list?.length) return list.shift()
    }
    const chaos = this.chaos
    if (chaos && method !== 'Login' && (!chaos.methods || chaos.methods.test(method)) && Math.random() < chaos.rate) {
      return chaos.faults[Math.floor(Math.random() * chaos.faults.length)]
    }
    return undefined
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.isDown) {
      this.counts.refused++
      req.socket.destroy()
      return
    }
    const body = await readBody(req)
    const method = /<soapenv:Body[^>]*>\s*<(?:\w+:)?(\w+)/.exec(body.toString())?.[1] ?? req.url ?? ''
    this.emit('request', method, req.headers)
    let hooked: Fault | undefined
    for (const hook of [...(this.hooks.get(method) ?? [])]) hooked = (await hook(body.toString())) ?? hooked
    const fault = hooked ?? this.nextFault(method)
    if (fault === 'dropBefore') {
      this.counts.dropBefore++
      req.socket.destroy()
      return
    }
    if (fault === 'notAuthenticated') {
      this.counts.notAuthenticated++
      res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' }).end(NOT_AUTHENTICATED)
      return
    }
    if (this.delayMs > 0) {
      this.counts.delayed++
      await new Promise((r) => setTimeout(r, this.delayMs))
    }
    const upstream = await forward(this.target, req, body, this.agent).catch(() => undefined)
    if (!upstream || this.isDown) {
      req.socket.destroy()
      return
    }
    if (fault === 'dropAfter') {
      // vCenter acted, but its answer never arrives: the outcome is unknown to the service.
      this.counts.dropAfter++
      this.emit('response', method)
      req.socket.destroy()
      return
    }
    res.writeHead(upstream.status, upstream.headers).end(upstream.body)
    this.emit('response', method, upstream.headers)
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function forward(
  target: string,
  req: http.IncomingMessage,
  body: Buffer,
  agent: https.Agent,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const url = new URL(req.url ?? '/', target)
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: url.host }
    delete headers['content-length']
    const up = https.request(url, { method: req.method, headers: { ...headers, 'content-length': body.length }, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const out = { ...res.headers }
        delete out['transfer-encoding']
        delete out.connection
        resolve({ status: res.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) })
      })
      res.on('error', reject)
    })
    up.on('error', reject)
    up.end(body)
  })
}
