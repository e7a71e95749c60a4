/**
 * Drift and reconcile end to end, against the lab simulator and a real PostgreSQL. Drift is made
 * behind the service's back, straight through vCenter's API: a clone powered off, one destroyed, one
 * renamed, one moved to another host (over the pool's host limit). The scheduled check finds each;
 * reconcile deploys the missing clone again under its number, powers on and renames back, records
 * the host spread only, and is serialized with the pool's other changes (POOL_BUSY). A reconcile's
 * ticket and X-Request-Id are recorded on its deployments and its audit entry.
 */
import t from 'tap'
import { DRIFT_CHECK_QUEUE } from '../../../src/modules/pools/drift-check-job.js'
import { VimClient, moRef, type MoRef, type VirtualMachineCloneSpec } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService({ env: { DRIFT_CHECK_MINUTES: '5' } })
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

function call(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

async function pool(name: string) {
  return (await call('GET', `/v1/pools/${name}`, undefined, 'deployments:read')).json()
}

interface Vm {
  ref: MoRef
  name: string
  powerState: string
  host: string
  instanceUuid: string
}

async function vms(): Promise<Vm[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', [
    'name',
    'runtime.powerState',
    'runtime.host',
    'config.instanceUuid',
  ])
  return all.map((o) => ({
    ref: o.obj,
    name: String(o.props.name),
    powerState: String(o.props['runtime.powerState']),
    host: (o.props['runtime.host'] as MoRef).value,
    instanceUuid: String(o.props['config.instanceUuid']),
  }))
}

async function vmByMoref(moref: string): Promise<Vm | undefined> {
  return (await vms()).find((v) => v.ref.value === moref)
}

async function relocate(vm: MoRef, host: string): Promise<void> {
  const task = moRef(await vc.rt.invoke('RelocateVM_Task', { _this: vm, spec: { host: { type: 'HostSystem', value: host } } }))!
  await vc.tasks.watch(task)
}

/** The latest audit entry of this operation on this object (recorded once answered: waited for, with a deadline). */
async function auditEntry(objectId: string, operation: string): Promise<{ ticket: string | null; requestId: string }> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const res = await service.app.inject({ url: `/v1/audit?objectId=${encodeURIComponent(objectId)}`, headers: service.auth('admin') })
    const found = res.json().items.find((e: { operation: string; outcome: string }) => e.operation === operation && e.outcome === 'succeeded')
    if (found) return found
    if (Date.now() > deadline) throw new Error(`no audit entry for ${operation} ${objectId}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const kinds = (drift: { findings: { kind: string; clone?: string }[] }) => drift.findings.map((f) => `${f.kind}:${f.clone ?? ''}`)

t.test('drift is found by the scheduled check and by request, and reconcile repairs it', async (t) => {
  const schedules = await service.app.boss.getSchedules()
  t.ok(schedules.some((s) => s.name === DRIFT_CHECK_QUEUE && s.cron === '*/5 * * * *'), 'the check is scheduled every DRIFT_CHECK_MINUTES (5)')

  const created = await call('POST', '/v1/pools', { name: 'drifty', parent: PARENT, prefix: 'Drift', startNumber: 1, size: 4, hostLimit: 1 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  let detail = await pool('drifty')
  t.equal(detail.drift, null, 'not checked yet')
  const clones: { name: string; moref: string; instanceUuid: string }[] = detail.clones

  // Every clone on one host (the simulator may have spread them): no drift.
  const hosts = (await vc.property.listByType(vc.serviceContent.rootFolder, 'HostSystem', ['name'])).map((h) => h.obj.value)
  t.ok(hosts.length >= 2, 'the lab has several hosts')
  for (const c of clones) await relocate({ type: 'VirtualMachine', value: c.moref }, hosts[0]!)
  const clean = await call('POST', '/v1/pools/drifty/drift')
  t.equal(clean.statusCode, 200, clean.body)
  t.same(clean.json().drift.findings, [])
  t.equal(clean.json().drift.status, 'none')
  t.equal(clean.json().drift.hosts, 1)

  // Drift behind the service's back.
  const ref = (n: number): MoRef => ({ type: 'VirtualMachine', value: clones[n - 1]!.moref })
  await vc.tasks.watch(await vc.powerOffVM(ref(1)))
  await vc.tasks.watch(await vc.powerOffVM(ref(2)))
  await vc.tasks.watch(await vc.destroy(ref(2)))
  await vc.tasks.watch(await vc.rename(ref(3), 'Drift03 renamed'))
  await relocate(ref(4), hosts[1]!)

  // The scheduled job's queue, run now rather than in five minutes.
  const before = detail.drift?.checkedAt
  await service.app.boss.send(DRIFT_CHECK_QUEUE, {})
  const deadline = Date.now() + 30_000
  while ((detail = await pool('drifty')).drift?.checkedAt === clean.json().drift.checkedAt || detail.drift?.checkedAt === before) {
    if (Date.now() > deadline) throw new Error('the scheduled drift check did not run')
    await new Promise((r) => setTimeout(r, 250))
  }
  t.same(kinds(detail.drift), ['powered_off:Drift01', 'missing:Drift02', 'renamed:Drift03', 'too_many_hosts:'])
  t.same(detail.drift.findings[2], { kind: 'renamed', clone: 'Drift03', number: 3, expected: 'Drift03', actual: 'Drift03 renamed' })
  t.same(detail.drift.findings[3], { kind: 'too_many_hosts', expected: 1, actual: 2 })
  t.equal(detail.drift.checked, 4)
  t.same(detail.clones.map((c: { name: string }) => c.name), ['Drift01', 'Drift02', 'Drift03', 'Drift04'], 'found, not yet changed')

  // Serialized with the pool's other changes.
  const grow = await call('PATCH', '/v1/pools/drifty', { size: 5 })
  t.equal(grow.statusCode, 202, grow.body)
  const busy = await call('POST', '/v1/pools/drifty/reconcile')
  t.equal(busy.statusCode, 409, busy.body)
  t.equal(busy.json().code, 'POOL_BUSY')
  t.equal((await waitForDeployment(service, grow.json().deploymentId)).status, 'succeeded')
  const locked = await service.app.poolRepository.withPoolLock('drifty', () => call('POST', '/v1/pools/drifty/reconcile'))
  t.equal(locked!.value.statusCode, 409)
  t.equal(locked!.value.json().code, 'POOL_BUSY', 'also while another operation holds the lock')
  const newcomer = (await pool('drifty')).clones.find((c: { number: number }) => c.number === 5)
  await relocate({ type: 'VirtualMachine', value: newcomer.moref }, hosts[0]!)

  const readOnly = await call('POST', '/v1/pools/drifty/reconcile', undefined, 'deployments:read')
  t.equal(readOnly.statusCode, 403)

  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/pools/drifty/reconcile',
    headers: { ...service.auth(), 'x-request-id': 'reconcile-req-1' },
    payload: { ticket: 'INC0007001' },
  })
  t.equal(res.statusCode, 202, res.body)
  const body = res.json()
  t.equal(res.headers.location, `/v1/deployments/${body.deploymentIds[0]}`)
  t.same(body.repairs, { recreate: [2], powerOn: ['Drift01'], rename: ['Drift03'], rebuild: [], add: 0 })
  t.equal(body.deploymentIds.length, 2, 'power on and rename back; deploy number 2 again')
  for (const id of body.deploymentIds) {
    const done = await waitForDeployment(service, id)
    t.equal(done.status, 'succeeded', JSON.stringify(done.error))
    t.same([done.ticket, done.requestId], ['INC0007001', 'reconcile-req-1'], "each repair's deployment records the ticket and the request id")
  }
  const audited = await auditEntry('drifty', 'POST /v1/pools/{name}/reconcile')
  t.same([audited.ticket, audited.requestId], ['INC0007001', 'reconcile-req-1'], 'and so does its audit entry')
  detail = await pool('drifty')
  t.same(
    detail.deployments.slice(0, 2).map((d: { kind: string }) => d.kind),
    ['reconcile', 'reconcile'],
  )

  // vCenter holds what the records say again.
  const one = await vmByMoref(clones[0]!.moref)
  t.equal(one?.powerState, 'poweredOn', 'Drift01 powered on')
  const three = await vmByMoref(clones[2]!.moref)
  t.equal(three?.name, 'Drift03', 'Drift03 renamed back')
  const two = detail.clones.find((c: { number: number }) => c.number === 2)
  t.not(two.moref, clones[1]!.moref, 'Drift02 is a new VM')
  t.not(two.instanceUuid, clones[1]!.instanceUuid)
  const twoVm = await vmByMoref(two.moref)
  t.equal(twoVm?.name, 'Drift02')
  t.equal(twoVm?.powerState, 'poweredOn')
  t.same(detail.clones.map((c: { number: number }) => c.number), [1, 2, 3, 4, 5])

  // The missing clone's record is kept, destroyed, with the reason.
  const { rows } = await service.app.database.pool.query(
    `SELECT status, error->>'code' AS code, destroyed_at IS NOT NULL AS destroyed FROM clones WHERE instance_uuid = $1`,
    [clones[1]!.instanceUuid],
  )
  t.same(rows, [{ status: 'destroyed', code: 'MISSING', destroyed: true }])

  // Again: only the host spread remains, and it is recorded, not repaired.
  const again = await call('POST', '/v1/pools/drifty/reconcile')
  t.equal(again.statusCode, 200, again.body)
  t.same(again.json().deploymentIds, [])
  t.same(kinds(again.json().drift), ['too_many_hosts:'])
  t.same(again.json().repairs, { recreate: [], powerOn: [], rename: [], rebuild: [], add: 0 })

  // Back on one host: no drift at all.
  for (const c of (await pool('drifty')).clones) await relocate({ type: 'VirtualMachine', value: c.moref }, hosts[0]!)
  const none = await call('POST', '/v1/pools/drifty/reconcile')
  t.equal(none.statusCode, 200)
  t.equal(none.json().drift.status, 'none')
  t.equal((await pool('drifty')).drift.status, 'none', 'GET shows the last check')
})

t.test('a clone re-registered under another moref is found by its instance UUID, not called missing', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'moved', parent: PARENT, prefix: 'Moved', startNumber: 1, size: 1 })
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  const [recorded] = (await pool('moved')).clones
  // Point the record at a moref vCenter does not know; the instance UUID still leads to the VM.
  await service.app.database.pool.query(`UPDATE clones SET moref = 'vm-999999' WHERE moref = $1`, [recorded.moref])
  const res = await call('POST', '/v1/pools/moved/drift')
  t.equal(res.statusCode, 200, res.body)
  t.same(kinds(res.json().drift).filter((k: string) => k.startsWith('missing')), [])
  t.equal((await pool('moved')).clones[0].moref, recorded.moref, 'the record follows the VM')
})

t.test('a missing clone whose name another VM took: reconcile is refused and the record is left as it was', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'gap', parent: PARENT, prefix: 'Gap', startNumber: 1, size: 1 })
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  const [recorded] = (await pool('gap')).clones
  const ref: MoRef = { type: 'VirtualMachine', value: recorded.moref }
  await vc.tasks.watch(await vc.powerOffVM(ref))
  await vc.tasks.watch(await vc.destroy(ref))
  // Another VM takes the name, behind the service's back.
  const [parent] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'parent', 'resourcePool', 'snapshot'])).filter(
    (o) => o.props.name === PARENT,
  )
  const spec: VirtualMachineCloneSpec = {
    location: { diskMoveType: 'createNewChildDiskBacking', pool: parent!.props.resourcePool as MoRef },
    template: false,
    powerOn: false,
    snapshot: (parent!.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot,
  }
  const foreign = (await vc.tasks.watch(await vc.cloneVM(parent!.obj, parent!.props.parent as MoRef, 'Gap01', spec))).result as MoRef

  const refused = await call('POST', '/v1/pools/gap/reconcile')
  t.equal(refused.statusCode, 409, refused.body)
  t.equal(refused.json().code, 'NAME_CONFLICT')
  const detail = await pool('gap')
  t.same(detail.clones.map((c: { name: string; status: string }) => [c.name, c.status]), [['Gap01', 'ready']], 'the record is as it was')
  t.same(kinds(detail.drift), ['missing:Gap01'], 'and still found missing')

  await vc.tasks.watch(await vc.destroy(foreign))
  const res = await call('POST', '/v1/pools/gap/reconcile')
  t.equal(res.statusCode, 202, res.body)
  t.equal((await waitForDeployment(service, res.json().deploymentIds[0])).status, 'succeeded')
  const after = await pool('gap')
  t.equal(after.clones.length, 1)
  t.not(after.clones[0].moref, recorded.moref, 'Gap01 deployed again')
})

t.test('a pool short of its size (a clone failed, freeing its number) is found short, and reconcile fills it up', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'short', parent: PARENT, prefix: 'Short', startNumber: 1, size: 3 })
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  const third = (await pool('short')).clones.find((c: { number: number }) => c.number === 3)
  // As a clone whose provisioning failed: no VM, and a failed record that holds no number.
  const ref: MoRef = { type: 'VirtualMachine', value: third.moref }
  await vc.tasks.watch(await vc.powerOffVM(ref))
  await vc.tasks.watch(await vc.destroy(ref))
  await service.app.database.pool.query(`UPDATE clones SET status = 'failed' WHERE moref = $1`, [third.moref])

  const checked = await call('POST', '/v1/pools/short/drift')
  t.equal(checked.statusCode, 200, checked.body)
  t.same(checked.json().drift.findings, [{ kind: 'short', expected: 3, actual: 2 }])

  const res = await call('POST', '/v1/pools/short/reconcile')
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.json().repairs.add, 1)
  t.equal(res.json().deploymentIds.length, 1)
  const done = await waitForDeployment(service, res.json().deploymentIds[0])
  t.equal(done.status, 'succeeded')
  t.equal(done.kind, 'reconcile')
  const after = await pool('short')
  t.same(after.clones.map((c: { name: string }) => c.name), ['Short01', 'Short02', 'Short03'], 'number 3 made again')
  t.ok(await vmByMoref(after.clones[2].moref), 'vCenter: the new Short03 exists')
  t.equal((await call('POST', '/v1/pools/short/drift')).json().drift.status, 'none')
})

t.test('unknown pools: 404 POOL_NOT_FOUND', async (t) => {
  for (const url of ['/v1/pools/nope/reconcile', '/v1/pools/nope/drift']) {
    const res = await call('POST', url)
    t.equal(res.statusCode, 404)
    t.equal(res.json().code, 'POOL_NOT_FOUND')
  }
})
