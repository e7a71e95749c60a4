/**
 * The catalogue's rarer codes, each produced through the API by the condition that causes it, against
 * the lab simulator (behind the fault proxy) and a real PostgreSQL: 502 VCENTER_REFUSED when vCenter
 * refuses a task a request waits for, 422 NO_HOST_AVAILABLE when every host is in maintenance, 413
 * PAYLOAD_TOO_LARGE for a body over the limit. Each refusal records nothing.
 */
import t, { type Test } from 'tap'
import { moRef, type MoRef, type VimClient } from '../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService } from '../helpers/service.js'

const PACKAGING = 'Tmpl Packaging 1.0'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService({ runWorkers: false, faultProxy: true })
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

async function nothingRecorded(t: Test) {
  const { rows } = await service.app.database.pool.query('SELECT (SELECT count(*) FROM deployments)::int AS deployments, (SELECT count(*) FROM pgboss.job)::int AS jobs')
  t.same(rows[0], { deployments: 0, jobs: 0 }, 'nothing recorded, no job queued')
}

t.test('502 VCENTER_REFUSED: vCenter refuses the snapshot removal a request waits for', async (t) => {
  const [parent] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])).filter((o) => o.props.name === PACKAGING)
  const snapshot = (await vc.tasks.watch(await vc.createSnapshot(parent!.obj, 'Packaging refused'))).result as MoRef
  // Someone removes it in vCenter between the service's check and its RemoveSnapshot_Task.
  service.proxy!.interceptOnce('RemoveSnapshot_Task', async () => {
    await vc.tasks.watch(await vc.removeSnapshot(snapshot))
  })
  const res = await service.app.inject({
    method: 'DELETE',
    url: `/v1/parents/${encodeURIComponent(PACKAGING)}/snapshots/${snapshot.value}`,
    headers: service.auth('parents:write'),
  })
  t.equal(res.statusCode, 502, res.body)
  t.equal(res.json().code, 'VCENTER_REFUSED')
  t.match(res.json().message, /vCenter refused the change/)
  t.equal(res.json().details.faultType, 'ManagedObjectNotFound')
  await nothingRecorded(t)
})

t.test('422 NO_HOST_AVAILABLE: every host of the cluster is in maintenance mode', async (t) => {
  const hosts = (await vc.property.listByType(vc.serviceContent.rootFolder, 'HostSystem', ['name'])).map((h) => h.obj)
  t.ok(hosts.length > 0)
  const maintenance = async (on: boolean) => {
    for (const host of hosts) {
      const task = moRef(await vc.rt.invoke(on ? 'EnterMaintenanceMode_Task' : 'ExitMaintenanceMode_Task', { _this: host, timeout: 0 }))!
      await vc.tasks.watch(task)
    }
  }
  await maintenance(true)
  t.teardown(() => maintenance(false))
  for (const dryRun of [true, false]) {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/deployments',
      headers: service.auth(),
      payload: { parent: PACKAGING, count: 2, startNumber: 1, dryRun },
    })
    t.equal(res.statusCode, 422, res.body)
    t.equal(res.json().code, 'NO_HOST_AVAILABLE', `dryRun: ${dryRun}`)
    t.match(res.json().message, PACKAGING)
  }
  await nothingRecorded(t)
  await maintenance(false)
  const dry = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth(), payload: { parent: PACKAGING, count: 2, startNumber: 1, dryRun: true } })
  t.equal(dry.statusCode, 200, 'hosts out of maintenance: a plan again')
})

t.test('413 PAYLOAD_TOO_LARGE: a body over the limit is refused before it is read', async (t) => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: { ...service.auth(), 'content-type': 'application/json' },
    payload: JSON.stringify({ parent: PACKAGING, count: 1, startNumber: 1, ticket: 'x'.repeat(300 * 1024) }),
  })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'PAYLOAD_TOO_LARGE')
  t.equal(res.json().message, 'The request body is too large')
  await nothingRecorded(t)
})
