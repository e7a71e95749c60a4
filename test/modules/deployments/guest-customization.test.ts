/**
 * A clone is ready once its guest has customized: after power-on it waits for vCenter's customization
 * events (the lab posts them after its guest delay), records the outcome and the guest's name and IPs,
 * and fails with GUEST_CUSTOMIZATION_FAILED / GUEST_CUSTOMIZATION_TIMEOUT. A restart during the wait
 * loses nothing: the resumed job reads the events back from the recorded power-on.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../../src/app.js'
import { gql } from '../../helpers/graphql.js'
import { startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const GUEST_MS = 3000

let service: TestService

t.before(async () => {
  service = await startTestService({
    simulator: { guestMs: GUEST_MS, guestFail: ['Tmpl Verification 1.0'], guestHang: ['Tmpl Kiosk 1.0'] },
  })
})
t.teardown(() => service?.stop())

async function deploy(app: FastifyInstance, payload: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth(), payload })
  if (res.statusCode !== 202) throw new Error(res.body)
  return res.json().id
}

t.test('ready means the guest customized: its outcome, name and IPs are recorded', async (t) => {
  const id = await deploy(service.app, { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1 })
  const done = await waitForDeployment(service, id)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  for (const clone of done.clones) {
    t.equal(clone.status, 'ready')
    t.match(clone.guest.customization, { outcome: 'succeeded', eventType: 'CustomizationSucceeded' })
    const { startedAt, endedAt } = clone.guest.customization
    t.ok(startedAt && endedAt && Date.parse(endedAt) >= Date.parse(startedAt), `${clone.name}: started ${startedAt}, ended ${endedAt}`)
    t.type(clone.guest.hostName, 'string', `${clone.name}'s guest host name ${clone.guest.hostName}`)
    t.ok(Array.isArray(clone.guest.ipAddresses))
  }
  t.ok('guest_customizing' in done.progress.byStatus, 'progress counts the guest step')
  const record = await service.app.inject({ method: 'GET', url: '/v1/clones/Capture01', headers: service.auth('deployments:read') })
  t.equal(record.json().guest.customization.outcome, 'succeeded')
  const res = await gql(service, `{ deployment(id: "${id}") { clones { name status guest { hostName ipAddresses customization { outcome eventType endedAt } } } } }`)
  t.equal(res.body.errors, undefined, JSON.stringify(res.body.errors))
  t.equal(res.body.data?.deployment.clones[0].guest.customization.outcome, 'succeeded')
})

t.test("a failed customization fails the clone with the event's message", async (t) => {
  const done = await waitForDeployment(service, await deploy(service.app, { parent: 'Tmpl Verification 1.0', count: 1, startNumber: 1 }))
  t.equal(done.status, 'failed')
  const [clone] = done.clones
  t.equal(clone.error.code, 'GUEST_CUSTOMIZATION_FAILED')
  t.equal(clone.error.faultType, 'CustomizationSysprepFailed')
  t.match(clone.error.message, /Verification01/)
  t.equal(clone.guest.customization.outcome, 'failed')
})

t.test('a customization that never ends times out after the deployment limit', async (t) => {
  const id = await deploy(service.app, { parent: 'Tmpl Kiosk 1.0', count: 1, startNumber: 1, customizationTimeoutMinutes: 1 })
  const done = await waitForDeployment(service, id, 180_000)
  t.equal(done.status, 'failed')
  const [clone] = done.clones
  t.equal(clone.error.code, 'GUEST_CUSTOMIZATION_TIMEOUT')
  t.match(clone.error.message, /1 minutes/)
  t.equal(clone.guest.customization.outcome, 'timeout')
  t.ok(clone.guest.customization.startedAt, 'the start was seen')
  const bad = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Kiosk 1.0', count: 1, startNumber: 5, customizationTimeoutMinutes: 0 },
  })
  t.equal(bad.statusCode, 400)
})

t.test('a restart during the guest wait loses no event', async (t) => {
  const id = await deploy(service.app, { parent: 'Tmpl Packaging 1.0', count: 2, startNumber: 1 })
  // Wait until both clones wait for their guests, then stop the service.
  for (;;) {
    const d = (await service.app.inject({ method: 'GET', url: `/v1/deployments/${id}`, headers: service.auth('deployments:read') })).json()
    if (d.clones.every((c: { status: string }) => c.status === 'guest_customizing')) break
    if (d.status === 'failed' || d.status === 'succeeded') throw new Error(`deployment ended before the restart: ${JSON.stringify(d)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  await service.app.close()
  // The guests finish while no service runs.
  await new Promise((r) => setTimeout(r, GUEST_MS * 1.5))
  const app = await buildApp({ config: service.config, databaseUrl: service.db.url, runWorkers: true })
  await app.ready()
  t.teardown(() => app.close())
  const deadline = Date.now() + 180_000
  let done: Record<string, any>
  for (;;) {
    done = (await app.inject({ method: 'GET', url: `/v1/deployments/${id}`, headers: service.auth('deployments:read') })).json()
    if (done.status === 'succeeded' || done.status === 'failed' || Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 200))
  }
  t.equal(done.status, 'succeeded', JSON.stringify(done.clones.map((c: { error: unknown }) => c.error)))
  for (const clone of done.clones) {
    t.equal(clone.guest.customization.outcome, 'succeeded', `${clone.name} read its events back`)
    t.ok(Date.parse(clone.guest.customization.endedAt) > 0)
  }
})
