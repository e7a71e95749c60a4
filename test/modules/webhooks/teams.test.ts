/**
 * Webhook subscriptions belong to teams: a deployment of team red is delivered to red's subscription
 * (and to an admin's, which receives every event), not to blue's; a member of red manages red's
 * subscription; blue gets 404 WEBHOOK_NOT_FOUND on every route for it and changes nothing.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

interface Received {
  path: string
  headers: Record<string, string>
  body: string
}

let service: TestService
let receiver: http.Server
let base: string
const received: Received[] = []

t.before(async () => {
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers as Record<string, string>, body })
      res.writeHead(204).end()
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

const SCOPES = 'deployments:read deployments:write'
const red = () => service.auth(SCOPES, 'alice', ['red'])
const redToo = () => service.auth(SCOPES, 'carol', ['red'])
const blue = () => service.auth(SCOPES, 'bob', ['blue'])
const admin = () => service.auth('admin', 'root')

async function subscribe(path: string, headers: Record<string, string>, team?: string) {
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/webhooks',
    headers,
    payload: { url: `${base}${path}`, events: ['deployment.succeeded'], ...(team ? { team } : {}) },
  })
  if (res.statusCode !== 201) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json() as { id: string; secret: string; team: string; owner: string }
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

const verified = (r: Received, secret: string) => new Webhook(secret).verify(r.body, r.headers) as { type: string; data: Record<string, any> }

t.test('the team is chosen at creation and shown', async (t) => {
  const several = service.auth(SCOPES, 'dana', ['red', 'green'])
  const missing = await service.app.inject({ method: 'POST', url: '/v1/webhooks', headers: several, payload: { url: `${base}/x`, events: ['pool.stripped'] } })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().code, 'TEAM_REQUIRED')
  const foreign = await service.app.inject({ method: 'POST', url: '/v1/webhooks', headers: several, payload: { url: `${base}/x`, events: ['pool.stripped'], team: 'blue' } })
  t.equal(foreign.statusCode, 403)
  t.equal(foreign.json().code, 'TEAM_FORBIDDEN')
  const chosen = await subscribe('/green', several, 'green')
  t.equal(chosen.team, 'green')
  t.equal(chosen.owner, 'dana')
  const personal = await subscribe('/personal', service.auth(SCOPES, 'erin'))
  t.equal(personal.team, 'user:erin', "a caller without teams: the personal team")
  const listed = await service.app.inject({ url: '/v1/webhooks', headers: service.auth(SCOPES, 'frank', ['green']) })
  t.same(listed.json().items.map((s: { id: string }) => s.id), [chosen.id], "another member of green sees green's subscription only")
  // Left enabled, they would receive nothing below (neither red nor blue): delete them.
  for (const [id, headers] of [[chosen.id, several], [personal.id, service.auth(SCOPES, 'erin')]] as const) {
    t.equal((await service.app.inject({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers })).statusCode, 204)
  }
})

t.test("a deployment of team red is delivered to red's subscription and the admin's, not blue's", async (t) => {
  const redSub = await subscribe('/red', red())
  const blueSub = await subscribe('/blue', blue())
  const adminSub = await subscribe('/admin', admin(), 'ops')
  t.equal(redSub.team, 'red')
  t.equal(blueSub.team, 'blue')

  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: red(),
    payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 501 },
  })
  t.equal(post.statusCode, 202, post.body)
  const done = await waitForDeployment(service, post.json().id)
  t.equal(done.status, 'succeeded')

  const toRed = verified(await until('the delivery to red', () => received.find((r) => r.path === '/red')), redSub.secret)
  t.equal(toRed.type, 'deployment.succeeded')
  t.equal(toRed.data.deploymentId, post.json().id)
  const toAdmin = verified(await until("the delivery to the admin's", () => received.find((r) => r.path === '/admin')), adminSub.secret)
  t.equal(toAdmin.data.deploymentId, post.json().id, "the admin's subscription receives another team's event")
  const event = await service.app.database.pool.query<{ team: string | null }>(`SELECT team FROM webhook_events WHERE type = 'deployment.succeeded' AND payload->'data'->>'deploymentId' = $1`, [post.json().id])
  t.same(event.rows.map((r) => r.team), ['red'], "the event records the deployment's team")

  // Give a stray delivery time to arrive, then count.
  await new Promise((r) => setTimeout(r, 3000))
  t.equal(received.filter((r) => r.path === '/red').length, 1)
  t.equal(received.filter((r) => r.path === '/blue').length, 0, "blue's subscription receives nothing of red's")

  // A blue deployment reaches blue's, not red's.
  const bluePost = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: blue(), payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 511 } })
  t.equal(bluePost.statusCode, 202, bluePost.body)
  await waitForDeployment(service, bluePost.json().id)
  const toBlue = verified(await until('the delivery to blue', () => received.find((r) => r.path === '/blue')), blueSub.secret)
  t.equal(toBlue.data.deploymentId, bluePost.json().id)
  await until("the admin's second delivery", () => (received.filter((r) => r.path === '/admin').length === 2 ? true : undefined))
  t.equal(received.filter((r) => r.path === '/red').length, 1, "red's subscription receives nothing of blue's")

  // It receives every team's events: a (non-admin) member of its team may not see or redirect it.
  const opsMember = service.auth(SCOPES, 'oscar', ['ops'])
  t.equal((await service.app.inject({ url: `/v1/webhooks/${adminSub.id}`, headers: opsMember })).statusCode, 404)
  const redirect = await service.app.inject({ method: 'PATCH', url: `/v1/webhooks/${adminSub.id}`, headers: opsMember, payload: { url: `${base}/stolen` } })
  t.equal(redirect.statusCode, 404, "an admin's subscription is managed by admins only")
})

t.test("another team's subscription is 404 on every route, and stays as it was; a member of the team manages it", async (t) => {
  const redSub = await subscribe('/red-routes', red())
  // A delivery of red's, for the retry route.
  const sent = await service.app.inject({ method: 'POST', url: `/v1/webhooks/${redSub.id}/test`, headers: red() })
  t.equal(sent.statusCode, 202, sent.body)
  const deliveryId = sent.json().deliveryId as string
  await until('the test delivery', () => received.find((r) => r.path === '/red-routes'))
  const before = (await service.app.inject({ url: `/v1/webhooks/${redSub.id}`, headers: red() })).json()

  const routes: [string, string, Record<string, unknown>?][] = [
    ['GET', `/v1/webhooks/${redSub.id}`],
    ['PATCH', `/v1/webhooks/${redSub.id}`, { description: 'blue was here', enabled: false }],
    ['POST', `/v1/webhooks/${redSub.id}/rotate-secret`],
    ['POST', `/v1/webhooks/${redSub.id}/test`],
    ['GET', `/v1/webhooks/${redSub.id}/deliveries`],
    ['POST', `/v1/webhooks/${redSub.id}/deliveries/${deliveryId}/retry`],
    ['DELETE', `/v1/webhooks/${redSub.id}`],
  ]
  // Concurrently, as a caller racing the owner would.
  const answers = await Promise.all(
    routes.map(([method, url, payload]) => service.app.inject({ method: method as 'GET', url, headers: blue(), ...(payload ? { payload } : {}) })),
  )
  for (const [i, res] of answers.entries()) {
    t.equal(res.statusCode, 404, `${routes[i]![0]} ${routes[i]![1]}`)
    t.equal(res.json().code, 'WEBHOOK_NOT_FOUND', `${routes[i]![0]} ${routes[i]![1]}`)
  }
  const missing = await service.app.inject({ url: '/v1/webhooks/00000000-0000-4000-8000-000000000000', headers: blue() })
  t.same(Object.keys(answers[0]!.json()).sort(), Object.keys(missing.json()).sort(), 'the same answer as a subscription that does not exist')
  const blueList = await service.app.inject({ url: '/v1/webhooks?limit=1000', headers: blue() })
  t.notOk(blueList.json().items.some((s: { id: string }) => s.id === redSub.id), "not in blue's list")

  const after = (await service.app.inject({ url: `/v1/webhooks/${redSub.id}`, headers: red() })).json()
  t.same(after, before, 'unchanged: not patched, rotated nor deleted')
  const deliveries = (await service.app.inject({ url: `/v1/webhooks/${redSub.id}/deliveries`, headers: red() })).json().items
  t.equal(deliveries.length, 1, 'no test delivery added by blue')
  t.equal(received.filter((r) => r.path === '/red-routes').length, 1, 'nothing sent again for blue')

  // Another member of red manages it; the admin sees it.
  const patched = await service.app.inject({ method: 'PATCH', url: `/v1/webhooks/${redSub.id}`, headers: redToo(), payload: { description: 'carol' } })
  t.equal(patched.statusCode, 200)
  t.equal(patched.json().description, 'carol')
  t.equal(patched.json().team, 'red')
  const redList = await service.app.inject({ url: '/v1/webhooks?limit=1000', headers: redToo() })
  t.ok(redList.json().items.some((s: { id: string }) => s.id === redSub.id), "in red's list for another member")
  t.notOk(redList.json().items.some((s: { team: string }) => s.team !== 'red'), "only red's")
  const adminList = await service.app.inject({ url: '/v1/webhooks?limit=1000', headers: admin() })
  const teams = new Set(adminList.json().items.map((s: { team: string }) => s.team))
  t.ok(teams.has('red') && teams.has('blue'), "the admin's list has every team's")
  t.equal((await service.app.inject({ url: `/v1/webhooks/${redSub.id}`, headers: admin() })).statusCode, 200)
  const rotated = await service.app.inject({ method: 'POST', url: `/v1/webhooks/${redSub.id}/rotate-secret`, headers: redToo() })
  t.equal(rotated.statusCode, 200)
  const deleted = await service.app.inject({ method: 'DELETE', url: `/v1/webhooks/${redSub.id}`, headers: redToo() })
  t.equal(deleted.statusCode, 204)
})
