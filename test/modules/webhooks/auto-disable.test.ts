/**
 * A subscription failing for days is disabled and says so: the failing streak is recorded (its start
 * kept across failures, cleared by a success), a failure past WEBHOOK_DISABLE_AFTER_HOURS disables
 * the subscription with its reason, its pending deliveries are abandoned and nothing more is sent,
 * until its owner enables it again. The streak's start is moved back in the database: nobody waits
 * three days in a test.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startTestService, type TestService } from '../../helpers/service.js'

let service: TestService
let receiver: http.Server
let base: string
/** The status the receiver answers with, by path. */
const answers = new Map<string, number>()
const received: string[] = []

t.before(async () => {
  receiver = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      received.push(req.url ?? '')
      res.writeHead(answers.get(req.url ?? '') ?? 204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  service = await startTestService({ env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SECONDS: '1', WEBHOOK_DISABLE_AFTER_HOURS: '72' } })
})
t.teardown(async () => {
  await service?.stop()
  receiver?.close()
})

const sql = (text: string, values: unknown[] = []) => service.app.database.pool.query(text, values)
const inject = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) =>
  service.app.inject({ method, url, headers: service.auth('deployments:read deployments:write'), ...(payload ? { payload } : {}) })

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const subscription = async (id: string) => (await inject('GET', `/v1/webhooks/${id}`)).json()
const deliveries = async (id: string) => (await inject('GET', `/v1/webhooks/${id}/deliveries`)).json().items as { id: string; status: string; attempts: unknown[] }[]

t.test('a failing streak is recorded and a success clears it', async (t) => {
  const { id } = (await inject('POST', '/v1/webhooks', { url: `${base}/streak`, events: ['deployment.succeeded'] })).json()
  answers.set('/streak', 500)
  t.equal((await inject('POST', `/v1/webhooks/${id}/test`)).statusCode, 202)
  const failing = await until('a failed attempt', async () => (await subscription(id)).failingSince ?? undefined)
  t.ok(Date.parse(failing) <= Date.now(), 'failingSince is the first failure')
  await until('a second attempt', async () => ((await deliveries(id))[0]?.attempts.length ?? 0) >= 2 || undefined)
  t.equal((await subscription(id)).failingSince, failing, 'a further failure keeps the streak\'s start')
  answers.set('/streak', 204)
  await until('the delivery to succeed', async () => ((await deliveries(id))[0]?.status === 'succeeded' ? true : undefined))
  const after = await subscription(id)
  t.equal(after.failingSince, null, 'a success ends the streak')
  t.equal(after.enabled, true)
})

t.test('failing for longer than WEBHOOK_DISABLE_AFTER_HOURS disables it, says why, and stops sending', async (t) => {
  const { id } = (await inject('POST', '/v1/webhooks', { url: `${base}/down`, events: ['deployment.succeeded'] })).json()
  answers.set('/down', 503)
  // A streak that began 73 hours ago (as if every delivery since then had failed).
  await sql(`UPDATE webhook_subscriptions SET failing_since = now() - interval '73 hours' WHERE id = $1`, [id])
  t.equal((await inject('POST', `/v1/webhooks/${id}/test`)).statusCode, 202)

  const disabled = await until('the subscription disabled', async () => {
    const s = await subscription(id)
    return s.enabled === false ? s : undefined
  })
  t.match(disabled.disabledReason, /every delivery failed for 72 hours/, 'it says why')
  t.match(disabled.disabledReason, /503/, 'with the last error')
  const [abandoned] = await deliveries(id)
  t.equal(abandoned!.status, 'failed', 'the delivery that failed last is given up')
  t.equal(abandoned!.attempts.length, 1, 'without further attempts')

  // Nothing more is sent while it is disabled: a new event's delivery is abandoned unsent.
  const sentBefore = received.filter((p) => p === '/down').length
  t.equal((await inject('POST', `/v1/webhooks/${id}/test`)).statusCode, 202)
  await until('the second delivery to be settled', async () => {
    const list = await deliveries(id)
    return list.length === 2 && list.every((d) => d.status !== 'pending') ? true : undefined
  })
  t.equal(received.filter((p) => p === '/down').length, sentBefore, 'nothing was sent to the disabled subscription')

  // Its owner enables it again: the streak is forgotten and events flow.
  answers.set('/down', 204)
  const enabled = (await inject('PATCH', `/v1/webhooks/${id}`, { enabled: true })).json()
  t.equal(enabled.enabled, true)
  t.equal(enabled.disabledReason, null)
  t.equal(enabled.failingSince, null)
  t.equal((await inject('POST', `/v1/webhooks/${id}/test`)).statusCode, 202)
  await until('a delivery after re-enabling', async () => ((await deliveries(id)).some((d) => d.status === 'succeeded') ? true : undefined))
  t.ok(received.filter((p) => p === '/down').length > sentBefore, 'sent again once enabled')
})
