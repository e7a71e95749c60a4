/**
 * Branches users meet when something is missing or down, against the lab simulator (behind the fault
 * proxy) and a real PostgreSQL: the space report with clones gone from vCenter and with vCenter
 * unreachable; GraphQL mutations and the parents query with vCenter unreachable; /health/ready with
 * the database down. Each answers a documented status and code, never a 500 or a hang, and a refused
 * request records nothing.
 */
import t from 'tap'
import type { MoRef, VimClient } from '../../src/vim25/index.js'
import { gql } from '../helpers/graphql.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../helpers/service.js'

let service: TestService
let vc: VimClient
let databaseStopped = false

t.before(async () => {
  service = await startTestService({ faultProxy: true })
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  if (!databaseStopped) return service?.stop()
  // The database is gone already: close the rest.
  await service.app.close()
  await service.proxy?.stop()
  await service.sim.stop()
})

function get(url: string) {
  return service.app.inject({ method: 'GET', url, headers: service.auth('deployments:read') })
}

async function deploymentsRecorded(): Promise<number> {
  const { rows } = await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  return rows[0].n
}

t.test('the space report counts clones gone from vCenter as missing, and leaves out a parent whose clones are all gone', async (t) => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Kiosk 1.0', count: 2, startNumber: 70 },
  })
  t.equal(res.statusCode, 202, res.body)
  const done = await waitForDeployment(service, res.json().id)
  t.equal(done.status, 'succeeded')
  const kiosk = (report: any) => report.parents.find((p: { name: string }) => p.name === 'Tmpl Kiosk 1.0')

  const whole = await get('/v1/reports/space')
  t.equal(whole.statusCode, 200, whole.body)
  t.equal(whole.json().missingClones, 0)
  t.equal(kiosk(whole.json()).count, 2)

  const destroy = async (moref: string) => {
    const ref: MoRef = { type: 'VirtualMachine', value: moref }
    await vc.tasks.watch(await vc.powerOffVM(ref))
    await vc.tasks.watch(await vc.destroy(ref))
  }
  await destroy(done.clones[0].moref)
  const one = await get('/v1/reports/space')
  t.equal(one.statusCode, 200, one.body)
  t.equal(one.json().missingClones, 1, 'the destroyed clone is counted missing')
  t.equal(kiosk(one.json()).count, 1, 'the parent is measured on the clone left')

  await destroy(done.clones[1].moref)
  const none = await get('/v1/reports/space')
  t.equal(none.statusCode, 200, none.body)
  t.equal(none.json().missingClones, 2)
  t.equal(kiosk(none.json()), undefined, 'a parent without a clone left is not listed')
})

t.test('vCenter unreachable: the space report, GraphQL mutations and the parents query answer VCENTER_UNAVAILABLE; nothing is recorded', async (t) => {
  const before = await deploymentsRecorded()
  service.proxy!.goDown()
  t.teardown(() => service.proxy!.comeBack())

  const report = await get('/v1/reports/space')
  t.equal(report.statusCode, 503, report.body)
  t.equal(report.json().code, 'VCENTER_UNAVAILABLE')

  const parents = await gql(service, `{ parents { nodes { name } } }`, {}, 'deployments:read')
  t.equal(parents.statusCode, 503, 'the status REST answers')
  t.same(parents.body.data, null)
  t.same(parents.body.errors!.map((e) => e.extensions!.code), ['VCENTER_UNAVAILABLE'])

  const deploy = await gql(
    service,
    `mutation { deployLinkedClones(input: { parent: "Tmpl Capture 1.0", count: 1, startNumber: 80 }) { __typename } }`,
  )
  t.same(deploy.body.errors!.map((e) => e.extensions!.code), ['VCENTER_UNAVAILABLE'], 'deployLinkedClones')
  const pool = await gql(
    service,
    `mutation { createPool(input: { name: "dark", parent: "Tmpl Capture 1.0", prefix: "Dark", startNumber: 1, size: 1 }) { pool { name } } }`,
  )
  t.same(pool.body.errors!.map((e) => e.extensions!.code), ['VCENTER_UNAVAILABLE'], 'createPool')

  t.equal(await deploymentsRecorded(), before, 'no deployment recorded')
  const pools = await get('/v1/pools/dark')
  t.equal(pools.json().code, 'POOL_NOT_FOUND', 'no pool recorded')
  t.ok(service.proxy!.counts.refused > 0, 'vCenter was asked, and could not be reached')
})

t.test('/health/ready with the database down: 503 naming the database, in bounded time', async (t) => {
  const up = await service.app.inject({ url: '/health/ready' })
  t.equal(up.statusCode, 200, up.body)
  await service.db.stop()
  databaseStopped = true
  const down = await service.app.inject({ url: '/health/ready' })
  t.equal(down.statusCode, 503, down.body)
  t.same(down.json(), { status: 'unavailable', checks: { database: 'unavailable', vcenter: 'ok' } })
  t.same((await service.app.inject({ url: '/health/live' })).json(), { status: 'ok' }, 'the process itself is alive')
})
