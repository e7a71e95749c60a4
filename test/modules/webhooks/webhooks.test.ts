/**
 * Webhooks end to end, against a local receiver that verifies every delivery with the
 * `standardwebhooks` library: a deployment for a ticket sends one signed deployment.succeeded with the
 * ticket and the request's X-Request-Id to its requester's subscription and nothing to another caller's
 * (the deployment shows that request id in REST and GraphQL); a receiver failing twice gets
 * the third attempt with the same webhook-id; private addresses are refused; subscriptions are their
 * owner's.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'
import { gql } from '../../helpers/graphql.js'

interface Received {
  path: string
  headers: Record<string, string>
  body: string
}

let service: TestService
let receiver: http.Server
let base: string
const received: Received[] = []
/** Failures still to answer, by path. */
const failures = new Map<string, number>()

t.before(async () => {
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers as Record<string, string>, body })
      const left = failures.get(req.url ?? '') ?? 0
      if (left > 0) {
        failures.set(req.url ?? '', left - 1)
        res.writeHead(500).end('not now')
      } else res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  service = await startTestService({ env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SECONDS: '1' } })
})
t.teardown(async () => {
  await service?.stop()
  receiver?.close()
})

const subscribe = async (path: string, events: string[], sub = 'portal-user') => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/webhooks',
    headers: service.auth('deployments:read deployments:write', sub),
    payload: { url: `${base}${path}`, events, description: `receiver ${path}` },
  })
  if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json() as { id: string; secret: string }
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const verified = (r: Received, secret: string) => new Webhook(secret).verify(r.body, r.headers) as { type: string; timestamp: string; data: Record<string, any> }

t.test('a deployment for a ticket: one signed deployment.succeeded to its requester (ticket, request id), none to another caller', async (t) => {
  const mine = await subscribe('/mine', ['deployment.succeeded', 'deployment.failed'])
  t.match(mine.secret, /^whsec_[A-Za-z0-9+/]+=*$/, 'the secret, shown once')
  const foreign = await subscribe('/foreign', ['deployment.succeeded'], 'someone-else')
  const cloneEvents = await subscribe('/clones', ['clone.ready', 'clone.failed'])

  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: { ...service.auth('deployments:write deployments:read'), 'x-request-id': 'abc-123' },
    payload: { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 301, ticket: 'RITM0012345' },
  })
  t.equal(post.statusCode, 202)
  t.equal(post.headers['x-request-id'], 'abc-123')
  t.equal(post.json().requestId, 'abc-123', 'the request id on the answer')
  const done = await waitForDeployment(service, post.json().id)
  t.equal(done.status, 'succeeded')
  t.equal(done.requestId, 'abc-123', 'and on the deployment, as GET shows it')
  const listed = await service.app.inject({ url: '/v1/deployments?requestId=abc-123', headers: service.auth('deployments:read') })
  t.same(listed.json().items.map((d: { id: string; requestId: string }) => [d.id, d.requestId]), [[post.json().id, 'abc-123']], 'found by its request id')
  const shown = await gql(service, 'query ($id: ID!) { deployment(id: $id) { requestId ticket } }', { id: post.json().id })
  t.same(shown.body.data?.deployment, { requestId: 'abc-123', ticket: 'RITM0012345' }, 'GraphQL shows it too')
  const byFilter = await gql(service, '{ deployments(filter: { requestId: "abc-123" }) { nodes { id } } }')
  t.same(byFilter.body, { data: { deployments: { nodes: [{ id: post.json().id }] } } }, "GraphQL's filter finds it")

  const delivery = await until('the delivery', () => received.find((r) => r.path === '/mine'))
  const event = verified(delivery, mine.secret)
  t.equal(event.type, 'deployment.succeeded')
  t.equal(event.data.deploymentId, post.json().id)
  t.equal(event.data.ticket, 'RITM0012345')
  t.equal(event.data.requestId, 'abc-123', "the X-Request-Id of the request that caused it")
  t.equal(event.data.requester, 'portal-user')
  t.equal(event.data.team, 'user:portal-user', "the deployment's team")
  t.same(
    event.data.clones.map((c: { name: string; hostName: string | null; ipAddresses: string[] }) => [c.name, c.hostName, c.ipAddresses]),
    done.clones.map((c: { name: string; guest: { hostName: string | null; ipAddresses: string[] } | null }) => [c.name, c.guest?.hostName ?? null, c.guest?.ipAddresses ?? []]),
    "each clone's guest host name and addresses, as the API shows them",
  )
  t.ok(event.data.clones.every((c: { hostName: string | null }) => c.hostName), 'known once the guest is customized')
  t.same(event.data.clones.map((c: { name: string }) => c.name), done.clones.map((c: { name: string }) => c.name))
  t.equal(event.data.links.deployment, `/v1/deployments/${post.json().id}`)
  t.match(delivery.headers['webhook-id'], /^msg_/)
  t.throws(() => new Webhook(foreign.secret).verify(delivery.body, delivery.headers), 'another secret does not verify it')

  // Give any stray delivery time to arrive, then count.
  await new Promise((r) => setTimeout(r, 3000))
  t.equal(received.filter((r) => r.path === '/mine').length, 1, 'exactly one delivery')
  t.equal(received.filter((r) => r.path === '/foreign').length, 0, "another caller's subscription receives nothing")
  const ready = received.filter((r) => r.path === '/clones').map((r) => verified(r, cloneEvents.secret))
  t.same(ready.map((e) => e.type), ['clone.ready', 'clone.ready'], 'one clone.ready per clone')
  t.same(ready.map((e) => e.data.clone).sort(), done.clones.map((c: { name: string }) => c.name).sort())
  t.ok(ready.every((e) => e.data.ticket === 'RITM0012345'))
  t.ok(ready.every((e) => e.data.requestId === 'abc-123'), 'clone.ready carries the request id too')
  t.ok(ready.every((e) => e.data.hostName && Array.isArray(e.data.ipAddresses)), "clone.ready carries the guest's host name and addresses")

  const deliveries = await service.app.inject({ url: `/v1/webhooks/${mine.id}/deliveries`, headers: service.auth('deployments:read') })
  t.equal(deliveries.statusCode, 200)
  const [recorded] = deliveries.json().items
  t.equal(recorded.status, 'succeeded')
  t.equal(recorded.webhookId, delivery.headers['webhook-id'])
  t.equal(recorded.attempts.length, 1)
  t.equal(recorded.attempts[0].statusCode, 204)
})

t.test('a receiver failing twice gets the third attempt, with the same webhook-id', async (t) => {
  const flaky = await subscribe('/flaky', ['deployment.succeeded'])
  failures.set('/flaky', 2)
  const test = await service.app.inject({ method: 'POST', url: `/v1/webhooks/${flaky.id}/test`, headers: service.auth('deployments:write') })
  t.equal(test.statusCode, 202)
  const attempts = await until('three attempts', () => {
    const got = received.filter((r) => r.path === '/flaky')
    return got.length >= 3 ? got : undefined
  })
  t.equal(new Set(attempts.map((a) => a.headers['webhook-id'])).size, 1, 'one webhook-id on every attempt')
  for (const a of attempts) t.equal(verified(a, flaky.secret).type, 'webhook.test', 'each attempt signed')
  let item: any
  for (let i = 0; i < 50; i++) {
    const res = await service.app.inject({ url: `/v1/webhooks/${flaky.id}/deliveries`, headers: service.auth('deployments:read') })
    item = res.json().items[0]
    if (item?.status === 'succeeded') break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.equal(item.status, 'succeeded')
  t.same(item.attempts.map((a: { statusCode: number }) => a.statusCode), [500, 500, 204], 'each attempt recorded')
  // The metrics count attempts by outcome (webhook_deliveries_total).
  const counted = new Map((await service.app.metrics.webhookDeliveries.get()).values.map((v) => [v.labels.outcome, v.value]))
  t.ok((counted.get('http_500') ?? 0) >= 2, 'the two refused attempts are counted as http_500')
  t.ok((counted.get('ok') ?? 0) >= 1, 'the delivered one as ok')
})

t.test('URLs that could reach inside are refused with 422 WEBHOOK_URL_FORBIDDEN; nothing is recorded', async (t) => {
  const refused = [
    'https://10.0.0.5/hook',
    'https://192.168.1.1/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://[::1]/hook',
    'https://[fd00:ec2::254]/hook',
    'https://localhost/hook',
    'https://224.0.0.1/hook',
    'http://93.184.215.14/hook',
    'https://user:pw@93.184.215.14/hook',
  ]
  for (const url of refused) {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: service.auth('deployments:write'),
      payload: { url, events: ['deployment.succeeded'] },
    })
    t.equal(res.statusCode, 422, url)
    t.equal(res.json().code, 'WEBHOOK_URL_FORBIDDEN', url)
  }
  const list = await service.app.inject({ url: '/v1/webhooks', headers: service.auth('deployments:read', 'nobody-else') })
  t.same(list.json().items, [], 'nothing recorded')
  const patch = await service.app.inject({ method: 'POST', url: '/v1/webhooks', headers: service.auth('deployments:write', 'ssrf-user'), payload: { url: `${base}/x`, events: ['pool.stripped'] } })
  t.equal(patch.statusCode, 201)
  const moved = await service.app.inject({ method: 'PATCH', url: `/v1/webhooks/${patch.json().id}`, headers: service.auth('deployments:write', 'ssrf-user'), payload: { url: 'https://10.1.2.3/' } })
  t.equal(moved.statusCode, 422, 'nor may a subscription be moved to one')
})

t.test("subscriptions are their owner's: others get 404; rotate, patch, delete", async (t) => {
  const own = await subscribe('/crud', ['pool.stripped'], 'owner-1')
  const asOther = await service.app.inject({ url: `/v1/webhooks/${own.id}`, headers: service.auth('deployments:read', 'owner-2') })
  t.equal(asOther.statusCode, 404)
  t.equal(asOther.json().code, 'WEBHOOK_NOT_FOUND')
  const asAdmin = await service.app.inject({ url: `/v1/webhooks/${own.id}`, headers: service.auth('admin', 'an-admin') })
  t.equal(asAdmin.statusCode, 200, 'an admin sees every subscription')
  t.notOk('secret' in asAdmin.json(), 'the secret is never shown again')

  const rotated = await service.app.inject({ method: 'POST', url: `/v1/webhooks/${own.id}/rotate-secret`, headers: service.auth('deployments:write', 'owner-1') })
  t.equal(rotated.statusCode, 200)
  t.not(rotated.json().secret, own.secret)
  const patched = await service.app.inject({ method: 'PATCH', url: `/v1/webhooks/${own.id}`, headers: service.auth('deployments:write', 'owner-1'), payload: { events: ['pool.expired'], description: null } })
  t.equal(patched.statusCode, 200)
  t.same(patched.json().events, ['pool.expired'])
  const badEvent = await service.app.inject({ method: 'PATCH', url: `/v1/webhooks/${own.id}`, headers: service.auth('deployments:write', 'owner-1'), payload: { events: ['pool.eaten'] } })
  t.equal(badEvent.statusCode, 400)
  const unknownDelivery = await service.app.inject({
    method: 'POST',
    url: `/v1/webhooks/${own.id}/deliveries/00000000-0000-4000-8000-000000000000/retry`,
    headers: service.auth('deployments:write', 'owner-1'),
  })
  t.equal(unknownDelivery.statusCode, 404)
  t.equal(unknownDelivery.json().code, 'WEBHOOK_DELIVERY_NOT_FOUND', 'a delivery the subscription never made')
  const deleted = await service.app.inject({ method: 'DELETE', url: `/v1/webhooks/${own.id}`, headers: service.auth('deployments:write', 'owner-1') })
  t.equal(deleted.statusCode, 204)
  const gone = await service.app.inject({ url: `/v1/webhooks/${own.id}`, headers: service.auth('deployments:read', 'owner-1') })
  t.equal(gone.statusCode, 404)
  const missingDelivery = await service.app.inject({
    method: 'POST',
    url: `/v1/webhooks/${own.id}/deliveries/00000000-0000-4000-8000-000000000000/retry`,
    headers: service.auth('deployments:write', 'owner-1'),
  })
  t.equal(missingDelivery.statusCode, 404)
  t.equal(missingDelivery.json().code, 'WEBHOOK_NOT_FOUND', 'the subscription is gone')
})

t.test('a preparation for a ticket: preparation.succeeded with the ticket and the request id', async (t) => {
  const sub = await subscribe('/prep', ['preparation.succeeded', 'preparation.failed'])
  const res = await service.app.inject({
    method: 'POST',
    url: `/v1/parents/${encodeURIComponent('Tmpl Packaging 1.0')}/prepare`,
    headers: { ...service.auth('deployments:write deployments:read parents:write'), 'x-request-id': 'prep-req.1' },
    payload: { snapshotName: 'webhook prep', ticket: 'CHG0000042' },
  })
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.json().ticket, 'CHG0000042', 'recorded on the preparation')
  t.equal(res.json().requestId, 'prep-req.1', 'with its request id')
  const delivery = await until('the preparation event', () => received.find((r) => r.path === '/prep'), 120_000)
  const event = verified(delivery, sub.secret)
  t.equal(event.type, 'preparation.succeeded')
  t.equal(event.data.ticket, 'CHG0000042')
  t.equal(event.data.requestId, 'prep-req.1')
  t.equal(event.data.preparationId, res.json().id)
})

t.test('concurrent writers: creates with one Idempotency-Key make one subscription; concurrent retries resend under the same webhook-id', async (t) => {
  const headers = { ...service.auth('deployments:read deployments:write', 'concurrent-user'), 'idempotency-key': 'create-hook-1' }
  const payload = { url: `${base}/concurrent`, events: ['deployment.failed'] }
  const answers = await Promise.all([1, 2, 3, 4].map(() => service.app.inject({ method: 'POST', url: '/v1/webhooks', headers, payload })))
  t.ok(answers.every((a) => a.statusCode === 201 || (a.statusCode === 409 && a.json().code === 'IDEMPOTENCY_KEY_IN_USE')), answers.map((a) => a.statusCode).join(','))
  const created = answers.filter((a) => a.statusCode === 201)
  t.equal(new Set(created.map((a) => a.json().id)).size, 1, 'one subscription')
  const listed = await service.app.inject({ url: '/v1/webhooks', headers: service.auth('deployments:read', 'concurrent-user') })
  t.equal(listed.json().items.length, 1)
  const id = created[0]!.json().id

  const distinct = await Promise.all(
    [1, 2, 3].map((i) => service.app.inject({ method: 'POST', url: '/v1/webhooks', headers: service.auth('deployments:write', 'concurrent-user'), payload: { ...payload, description: `n${i}` } })),
  )
  t.same(distinct.map((a) => a.statusCode), [201, 201, 201])
  t.equal(new Set(distinct.map((a) => a.json().secret)).size, 3, 'each its own secret')

  const test = await service.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/test`, headers: service.auth('deployments:write', 'concurrent-user') })
  const deliveryId = test.json().deliveryId
  await until('the first delivery', () => received.find((r) => r.path === '/concurrent'))
  // A retry is for a delivery that is over: wait for the first to be recorded.
  for (let i = 0; i < 100; i++) {
    const res = await service.app.inject({ url: `/v1/webhooks/${id}/deliveries`, headers: service.auth('deployments:read', 'concurrent-user') })
    if (res.json().items[0]?.status === 'succeeded') break
    await new Promise((r) => setTimeout(r, 100))
  }
  const retries = await Promise.all(
    [1, 2, 3].map(() =>
      service.app.inject({ method: 'POST', url: `/v1/webhooks/${id}/deliveries/${deliveryId}/retry`, headers: service.auth('deployments:write', 'concurrent-user') }),
    ),
  )
  t.same(retries.map((r) => r.statusCode), [202, 202, 202])
  const resent = await until('a resend', () => {
    const got = received.filter((r) => r.path === '/concurrent')
    return got.length >= 2 ? got : undefined
  })
  t.equal(new Set(resent.map((r) => r.headers['webhook-id'])).size, 1, 'the same webhook-id')
  t.equal(resent[0]!.headers['webhook-id'], `msg_${deliveryId}`)
})
