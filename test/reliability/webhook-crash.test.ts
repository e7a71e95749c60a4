/**
 * Webhooks are delivered at least once across a crash: the service is SIGKILLed while a delivery is
 * on its way (the change committed, the receiver reached, its answer never recorded), and the next
 * process sends it again under the same webhook-id, until the receiver's 2xx is recorded. The
 * service runs as real processes on one database and simulator.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { startSimulator, type RunningSimulator } from '../../sim/launcher.js'
import { startTestDatabase, type TestDatabase } from '../helpers/database.js'
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js'

let sim: RunningSimulator
let db: TestDatabase
let receiver: http.Server
let env: Record<string, string>
let token: string
const running = new Set<ServiceProcess>()
const received: { headers: http.IncomingHttpHeaders; body: string }[] = []
/** While set, the receiver holds requests unanswered (the service is killed meanwhile). */
let holding = true
const held: http.ServerResponse[] = []

t.before(async () => {
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      if (holding) held.push(res)
      else res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  ;[sim, db] = await Promise.all([startSimulator(), startTestDatabase()])
  const secret = randomBytes(32).toString('hex')
  env = {
    DATABASE_URL: db.url,
    VCENTER_URL: sim.url,
    VCENTER_USERNAME: sim.username,
    VCENTER_PASSWORD: sim.password,
    VCENTER_INSECURE: 'true',
    JWT_SECRET: secret,
    SECRETS_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    WEBHOOK_RETRY_SECONDS: '1',
  }
  token = createSigner({ key: secret, expiresIn: 3_600_000 })({ sub: 'ticket-bot', scope: 'deployments:read deployments:write' })
})
t.teardown(async () => {
  for (const s of running) await s.kill()
  for (const res of held) res.destroy()
  receiver?.close()
  await Promise.all([sim?.stop(), db?.stop()])
})

async function start(): Promise<ServiceProcess> {
  const service = await startServiceProcess(env)
  running.add(service)
  return service
}

async function call(service: ServiceProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  })
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any }
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

t.test('SIGKILL while a delivery is in flight: the next process sends it again, same webhook-id', async (t) => {
  const first = await start()
  const port = (receiver.address() as AddressInfo).port
  const subscribed = await call(first, 'POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['deployment.succeeded'] })
  t.equal(subscribed.status, 201, JSON.stringify(subscribed.body))
  const deployed = await call(first, 'POST', '/v1/deployments', { parent: 'Tmpl Capture 1.0', count: 1, prefix: 'Crash', ticket: 'RITM-CRASH-1' })
  t.equal(deployed.status, 202, JSON.stringify(deployed.body))

  // The deployment ends, its event is recorded and its delivery reaches the receiver, which holds it.
  await until('the delivery to reach the receiver', () => (received.length > 0 ? true : undefined), 180_000)
  await first.kill('SIGKILL')
  running.delete(first)
  holding = false
  for (const res of held.splice(0)) res.destroy()

  const second = await start()
  await until('the delivery to be sent again', () => (received.length >= 2 ? true : undefined), 120_000)
  const ids = new Set(received.map((r) => r.headers['webhook-id']))
  t.equal(ids.size, 1, 'one webhook-id on every attempt: the receiver can tell it is a repeat')
  const event = new Webhook(subscribed.body.secret).verify(received[1]!.body, received[1]!.headers as Record<string, string>) as {
    type: string
    data: { deploymentId: string; ticket: string }
  }
  t.equal(event.type, 'deployment.succeeded')
  t.equal(event.data.deploymentId, deployed.body.id)
  t.equal(event.data.ticket, 'RITM-CRASH-1')

  const delivery = await until(
    'the delivery recorded as succeeded',
    async () => {
      const items = (await call(second, 'GET', `/v1/webhooks/${subscribed.body.id}/deliveries`)).body.items as { status: string; webhookId: string }[]
      return items[0]?.status === 'succeeded' ? items[0] : undefined
    },
    60_000,
  )
  t.equal(delivery.webhookId, [...ids][0])
})
