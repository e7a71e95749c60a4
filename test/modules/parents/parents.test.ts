/**
 * Parent preparation and snapshot protection end to end, against the lab simulator and a real
 * PostgreSQL: prepare powers the parent off and takes the dated snapshot (checked in vCenter),
 * repeats are safe (the same preparation answers; a lost snapshot answer is adopted, not taken twice),
 * refusals change nothing in vCenter, and snapshots that live clones use cannot be removed or
 * reverted to.
 */
import t from 'tap'
import { ParentPreparer } from '../../../src/modules/parents/prepare-parent-job.js'
import { VimClient, moRef, type MoRef, type VirtualMachineCloneSpec } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const VERIFICATION = 'Tmpl Verification 1.0'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService()
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

const enc = encodeURIComponent

function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

interface VmFacts {
  ref: MoRef
  powerState: string
  snapshots: { moref: string; name: string }[]
  current?: string
}

async function vmsNamed(name: string): Promise<VmFacts[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState', 'snapshot'])
  return all
    .filter((o) => o.props.name === name)
    .map((o) => {
      const info = o.props.snapshot as { currentSnapshot?: MoRef; rootSnapshotList?: unknown } | undefined
      const snapshots: { moref: string; name: string }[] = []
      const walk = (list: unknown) => {
        for (const node of ([] as any[]).concat(list ?? [])) {
          snapshots.push({ moref: node.snapshot.value, name: node.name })
          walk(node.childSnapshotList)
        }
      }
      walk(info?.rootSnapshotList)
      return { ref: o.obj, powerState: String(o.props['runtime.powerState']), snapshots, current: info?.currentSnapshot?.value }
    })
}

async function vm(name: string): Promise<VmFacts> {
  const [found] = await vmsNamed(name)
  if (!found) throw new Error(`no VM ${name}`)
  return found
}

async function powerOn(name: string): Promise<void> {
  const facts = await vm(name)
  if (facts.powerState !== 'poweredOn') await vc.tasks.watch(await vc.powerOnVM(facts.ref))
}

async function waitForPreparation(location: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const body = (await call('GET', location, undefined, 'deployments:read')).json()
    if (body.status === 'succeeded' || body.status === 'failed') return body
    if (Date.now() > deadline) throw new Error(`preparation still ${body.status}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The latest succeeded audit entry of this operation on this object (recorded once answered: waited for, with a deadline). */
async function auditEntry(objectId: string, operation: string): Promise<{ ticket: string | null; requestId: string }> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const res = await service.app.inject({ url: `/v1/audit?objectId=${enc(objectId)}`, headers: service.auth('admin') })
    const found = res.json().items.find((e: { operation: string; outcome: string }) => e.operation === operation && e.outcome === 'succeeded')
    if (found) return found
    if (Date.now() > deadline) throw new Error(`no audit entry for ${operation} ${objectId}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const today = () => new Date().toISOString().slice(0, 10)

t.test('unknown parent, preparation and snapshot: stable 404 codes; scopes are checked', async (t) => {
  const prepare = await call('POST', `/v1/parents/${enc('Tmpl Nothing 9')}/prepare`, {})
  t.equal(prepare.statusCode, 404)
  t.equal(prepare.json().code, 'PARENT_NOT_FOUND')
  const noBody = await call('POST', `/v1/parents/${enc('Tmpl Nothing 9')}/prepare`)
  t.equal(noBody.json().code, 'PARENT_NOT_FOUND', 'the body is optional')
  const snapshots = await call('GET', `/v1/parents/${enc('Tmpl Nothing 9')}/snapshots`, undefined, 'deployments:read')
  t.equal(snapshots.json().code, 'PARENT_NOT_FOUND')
  const prep = await call('GET', `/v1/parents/${enc(CAPTURE)}/preparations/00000000-0000-4000-8000-000000000000`, undefined, 'deployments:read')
  t.equal(prep.statusCode, 404)
  t.equal(prep.json().code, 'PREPARATION_NOT_FOUND')
  const snap = await call('DELETE', `/v1/parents/${enc(CAPTURE)}/snapshots/${enc('No Such Snapshot')}`)
  t.equal(snap.statusCode, 404)
  t.equal(snap.json().code, 'SNAPSHOT_NOT_FOUND')
  const revert = await call('POST', `/v1/parents/${enc(CAPTURE)}/snapshots/snapshot-999999/revert`)
  t.equal(revert.json().code, 'SNAPSHOT_NOT_FOUND')

  const readOnly = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, {}, 'deployments:read')
  t.equal(readOnly.statusCode, 403)
  t.equal(readOnly.json().code, 'FORBIDDEN')
  const noRead = await call('GET', `/v1/parents/${enc(CAPTURE)}/snapshots`, undefined, 'secrets:read')
  t.equal(noRead.statusCode, 403)

  const bad = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, { snapshotName: ' padded ' })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION_FAILED')
  const extra = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, { snapshot: 'x' })
  t.equal(extra.statusCode, 400)
})

t.test('a parent name that several VMs carry is refused, and nothing changes', async (t) => {
  const original = await vm(VERIFICATION)
  const folder = (await vc.property.retrieveOne(original.ref, ['parent'])).parent as MoRef
  const datacenterVmFolder = folder
  const otherFolder = moRef(await vc.rt.invoke('CreateFolder', { _this: datacenterVmFolder, name: 'Elsewhere' }))!
  const props = await vc.property.retrieveOne(original.ref, ['resourcePool'])
  const spec: VirtualMachineCloneSpec = {
    location: { diskMoveType: 'createNewChildDiskBacking', pool: props.resourcePool as MoRef },
    template: false,
    powerOn: false,
    snapshot: { type: 'VirtualMachineSnapshot', value: original.current! },
  }
  const twin = (await vc.tasks.watch(await vc.cloneVM(original.ref, otherFolder, VERIFICATION, spec))).result as MoRef
  const before = await vmsNamed(VERIFICATION)
  t.equal(before.length, 2)

  const res = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, {})
  t.equal(res.statusCode, 409, res.body)
  t.equal(res.json().code, 'PARENT_AMBIGUOUS')
  t.equal(res.json().details.morefs.length, 2)
  // Deploying from it is refused the same way (before: the first VM found was used).
  await service.sim.resetStats()
  const deploy = await call('POST', '/v1/deployments', { parent: VERIFICATION, count: 1, startNumber: 90 })
  t.equal(deploy.statusCode, 409, deploy.body)
  t.equal(deploy.json().code, 'PARENT_AMBIGUOUS')
  t.same([...deploy.json().details.morefs].sort(), before.map((v) => v.ref.value).sort())
  t.notOk((await service.sim.stats()).methods.CloneVM_Task, 'nothing cloned')
  const after = await vmsNamed(VERIFICATION)
  t.same(after, before, 'no snapshot taken, no power state changed')
  await vc.tasks.watch(await vc.destroy(twin))
})

t.test('prepare powers the parent off and takes the dated snapshot; a repeat answers with the same preparation', async (t) => {
  await powerOn(PACKAGING)
  const before = await vm(PACKAGING)
  t.equal(before.powerState, 'poweredOn')

  const res = await call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, { description: 'Monthly patches <&>' })
  t.equal(res.statusCode, 202, res.body)
  const accepted = res.json()
  t.equal(res.headers.location, `/v1/parents/${enc(PACKAGING)}/preparations/${accepted.id}`)
  t.equal(accepted.snapshot.name, `${PACKAGING} ${today()}`, 'default name: the parent and the date')

  const done = await waitForPreparation(res.headers.location as string)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.same(
    done.steps.map((s: { step: string; outcome: string }) => [s.step, s.outcome]),
    [
      ['power_off', 'succeeded'],
      ['snapshot', 'succeeded'],
    ],
  )
  t.ok(done.steps[0].taskMoref, 'the power-off task is recorded')
  t.match(done.snapshot.moref, /^snapshot-/)
  t.ok(done.snapshot.createdAt, 'the snapshot time is recorded')

  const after = await vm(PACKAGING)
  t.equal(after.powerState, 'poweredOff', 'powered off in vCenter')
  t.equal(after.snapshots.length, before.snapshots.length + 1)
  t.equal(after.current, done.snapshot.moref, 'the new snapshot is current: the next clones use it')
  t.equal(after.snapshots.find((s) => s.moref === done.snapshot.moref)?.name, `${PACKAGING} ${today()}`)

  // The same request again: the same preparation, nothing more in vCenter.
  const again = await call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, { description: 'Monthly patches <&>' })
  t.equal(again.statusCode, 200, again.body)
  t.equal(again.json().id, accepted.id)
  t.equal((await vm(PACKAGING)).snapshots.length, after.snapshots.length)

  // A parent already off: the power-off step is skipped.
  const second = await call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, { snapshotName: 'Packaging second' })
  t.equal(second.statusCode, 202, second.body)
  const secondDone = await waitForPreparation(second.headers.location as string)
  t.equal(secondDone.status, 'succeeded')
  t.same(secondDone.steps[0], { ...secondDone.steps[0], step: 'power_off', outcome: 'skipped' })

  // An explicit name that a snapshot no preparation made already has is refused.
  const taken = await call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, { snapshotName: 'Base' })
  t.equal(taken.statusCode, 409)
  t.equal(taken.json().code, 'SNAPSHOT_NAME_TAKEN')

  const list = await call('GET', `/v1/parents/${enc(PACKAGING)}/preparations`, undefined, 'deployments:read')
  t.same(list.json().preparations.map((p: { id: string }) => p.id), [secondDone.id, accepted.id])
})

t.test('a retried job adopts the snapshot an earlier attempt took instead of taking a second', async (t) => {
  const parent = await vm(VERIFICATION)
  const row = await service.app.parentRepository.createPreparation(
    {
      parentName: VERIFICATION,
      parentMoref: parent.ref.value,
      parentInstanceUuid: null,
      snapshotName: 'Verification adopted',
      description: null,
      recompose: false,
      requester: 'portal-user',
      team: 'user:portal-user',
    },
    async () => {}, // no job: this test runs the job itself
  )
  t.ok(row)
  // The earlier attempt's snapshot, whose answer was lost.
  const task = await vc.createSnapshot(parent.ref, 'Verification adopted')
  const taken = (await vc.tasks.watch(task)).result as MoRef
  const count = (await vm(VERIFICATION)).snapshots.length

  // While it is unfinished: the same request answers with it; another is refused, and so are snapshot operations.
  const same = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, { snapshotName: 'Verification adopted' })
  t.equal(same.statusCode, 202, same.body)
  t.equal(same.json().id, row!.id)
  const other = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, { snapshotName: 'Verification other' })
  t.equal(other.statusCode, 409, other.body)
  t.equal(other.json().code, 'PARENT_BUSY')
  t.equal(other.json().details.preparationId, row!.id)
  const removing = await call('DELETE', `/v1/parents/${enc(VERIFICATION)}/snapshots/${taken.value}`)
  t.equal(removing.json().code, 'PARENT_BUSY')

  const preparer = new ParentPreparer(
    service.app.parentRepository,
    service.app.poolRepository,
    service.app.vcenter,
    service.app.pools,
    service.app.log,
    service.app.jobOwnership,
  )
  await preparer.run(row!.id, { lastAttempt: false })
  await preparer.run(row!.id, { lastAttempt: false }) // once more: already finished, nothing happens
  const done = (await call('GET', `/v1/parents/${enc(VERIFICATION)}/preparations/${row!.id}`, undefined, 'deployments:read')).json()
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(done.snapshot.moref, taken.value, 'the snapshot taken earlier is adopted')
  t.same(done.steps.map((s: { outcome: string }) => s.outcome), ['skipped', 'adopted'])
  t.equal((await vm(VERIFICATION)).snapshots.length, count, 'no second snapshot')
})

t.test('a request repeated after a preparation failed adopts the snapshot that preparation took', async (t) => {
  const parent = await vm(VERIFICATION)
  const repo = service.app.parentRepository
  const failed = await repo.createPreparation(
    {
      parentName: VERIFICATION,
      parentMoref: parent.ref.value,
      parentInstanceUuid: null,
      snapshotName: 'Verification retried',
      description: null,
      recompose: false,
      requester: 'portal-user',
      team: 'user:portal-user',
    },
    async () => {},
  )
  const taken = (await vc.tasks.watch(await vc.createSnapshot(parent.ref, 'Verification retried'))).result as MoRef
  await repo.recordSnapshot(failed!.id, taken.value, new Date())
  await repo.finish(failed!.id, 'failed', { code: 'RECOMPOSE_FAILED', message: 'after the snapshot' })
  const count = (await vm(VERIFICATION)).snapshots.length

  const res = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, { snapshotName: 'Verification retried' })
  t.equal(res.statusCode, 202, res.body)
  t.not(res.json().id, failed!.id, 'a new preparation')
  const done = await waitForPreparation(res.headers.location as string)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(done.snapshot.moref, taken.value)
  t.equal(done.steps.at(-1).outcome, 'adopted')
  t.equal((await vm(VERIFICATION)).snapshots.length, count, 'no second snapshot of that name')
  // Put the adopted-test snapshot back as current, as the next test expects.
  const adopted = parent.snapshots.find((s) => s.name === 'Verification adopted')!
  await vc.tasks.watch(await vc.revertToSnapshot({ type: 'VirtualMachineSnapshot', value: adopted.moref }))
})

t.test('running clones of an older snapshot refuse a preparation unless asked to recompose; snapshots in use are protected', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'cap', parent: CAPTURE, prefix: 'Cap', startNumber: 1, size: 2 })
  t.equal(created.statusCode, 202, created.body)
  // While its clones are being made, they count as running.
  const early = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, {})
  t.equal(early.statusCode, 409, early.body)
  t.equal(early.json().code, 'PARENT_IN_USE')
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')

  await powerOn(CAPTURE)
  const before = await vm(CAPTURE)
  const refused = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, { snapshotName: 'Capture next' })
  t.equal(refused.statusCode, 409, refused.body)
  const body = refused.json()
  t.equal(body.code, 'PARENT_IN_USE')
  t.same(body.details.pools, ['cap'])
  t.equal(body.details.runningClones, 2)
  t.match(body.message, /cap/)
  const after = await vm(CAPTURE)
  t.equal(after.snapshots.length, before.snapshots.length, 'no snapshot taken')
  t.equal(after.powerState, 'poweredOn', 'the parent was not powered off')
  t.equal(after.current, before.current)

  // The snapshot the clones were made from: listed with its users, and protected.
  const listed = (await call('GET', `/v1/parents/${enc(CAPTURE)}/snapshots`, undefined, 'deployments:read')).json()
  const base = listed.snapshots.find((s: { name: string }) => s.name === 'Base')
  t.equal(base.liveClones, 2)
  t.same(base.pools, ['cap'])
  t.equal(base.current, true)
  t.equal(listed.parent.moref, before.ref.value)

  for (const [method, url] of [
    ['DELETE', `/v1/parents/${enc(CAPTURE)}/snapshots/Base`],
    ['POST', `/v1/parents/${enc(CAPTURE)}/snapshots/${base.moref}/revert`],
  ] as const) {
    const res = await call(method, url)
    t.equal(res.statusCode, 409, res.body)
    t.equal(res.json().code, 'SNAPSHOT_IN_USE')
    t.equal(res.json().details.liveClones, 2)
    t.same(res.json().details.pools, ['cap'])
  }
  t.same((await vm(CAPTURE)).snapshots, after.snapshots, 'the snapshot is still there')

  // Asked to recompose: the parent is powered off, snapshotted, and the pool rebuilt onto the new snapshot.
  const poolBefore = (await call('GET', '/v1/pools/cap', undefined, 'deployments:read')).json()
  const recompose = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, { snapshotName: 'Capture next', recompose: true })
  t.equal(recompose.statusCode, 202, recompose.body)
  const prepared = await waitForPreparation(recompose.headers.location as string)
  t.equal(prepared.status, 'succeeded', JSON.stringify(prepared.error))
  t.equal(prepared.deploymentIds.length, 1, 'one recompose deployment for the one pool')
  const rebuilt = await waitForDeployment(service, prepared.deploymentIds[0])
  t.equal(rebuilt.status, 'succeeded')
  t.equal(rebuilt.kind, 'recompose')
  const parentNow = await vm(CAPTURE)
  t.equal(parentNow.powerState, 'poweredOff', 'vCenter: the parent was powered off')
  const next = parentNow.snapshots.find((s) => s.name === 'Capture next')
  t.ok(next, 'vCenter: the snapshot was taken')
  t.equal(prepared.snapshot.moref, next?.moref)
  const poolAfter = (await call('GET', '/v1/pools/cap', undefined, 'deployments:read')).json()
  t.same(
    poolAfter.clones.map((c: { name: string }) => c.name),
    poolBefore.clones.map((c: { name: string }) => c.name),
    'the same names',
  )
  t.notSame(
    poolAfter.clones.map((c: { moref: string }) => c.moref),
    poolBefore.clones.map((c: { moref: string }) => c.moref),
    'new VMs',
  )
  const relisted = (await call('GET', `/v1/parents/${enc(CAPTURE)}/snapshots`, undefined, 'deployments:read')).json()
  const usage = Object.fromEntries(relisted.snapshots.map((s: { name: string; liveClones: number }) => [s.name, s.liveClones]))
  t.equal(usage.Base, 0, 'no live clone of the old snapshot')
  t.equal(usage['Capture next'], 2, 'both clones made from the new one')

  // Once the pool is stripped back, nothing uses either: revert is allowed (remove is tested on Packaging).
  const strip = await call('DELETE', '/v1/pools/cap')
  t.equal((await waitForDeployment(service, strip.json().deploymentId)).status, 'succeeded')
  const reverted = await call('POST', `/v1/parents/${enc(CAPTURE)}/snapshots/Base/revert`)
  t.equal(reverted.statusCode, 200, reverted.body)
  t.equal(reverted.json().action, 'reverted')
  t.match(reverted.json().taskMoref, /^task-/)
})

t.test('snapshots no live clone uses can be reverted to and removed', async (t) => {
  const before = await vm(PACKAGING)
  const listed = (await call('GET', `/v1/parents/${enc(PACKAGING)}/snapshots`, undefined, 'deployments:read')).json()
  t.ok(listed.snapshots.every((s: { liveClones: number }) => s.liveClones === 0))
  const second = listed.snapshots.find((s: { name: string }) => s.name === 'Packaging second')
  t.equal(second.current, true)

  const reverted = await call('POST', `/v1/parents/${enc(PACKAGING)}/snapshots/Base/revert`, { ticket: 'CHG0000101' })
  t.equal(reverted.statusCode, 200, reverted.body)
  t.equal(reverted.json().ticket, 'CHG0000101', 'the ticket, answered')
  const revertAudit = await auditEntry(PACKAGING, 'POST /v1/parents/{name}/snapshots/{snapshot}/revert')
  t.equal(revertAudit.ticket, 'CHG0000101', 'and recorded on its audit entry')
  const baseMoref = before.snapshots.find((s) => s.name === 'Base')!.moref
  t.equal((await vm(PACKAGING)).current, baseMoref, 'vCenter: the parent is at Base')

  const removed = await call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${enc('Packaging second')}?ticket=CHG0000102`)
  t.equal(removed.statusCode, 200, removed.body)
  t.equal(removed.json().action, 'removed')
  t.equal(removed.json().ticket, 'CHG0000102')
  const removeAudit = await auditEntry(PACKAGING, 'DELETE /v1/parents/{name}/snapshots/{snapshot}')
  t.equal(removeAudit.ticket, 'CHG0000102', "a removal's ticket (a query parameter) is recorded on its audit entry")
  const after = await vm(PACKAGING)
  t.equal(after.snapshots.length, before.snapshots.length - 1)
  t.notOk(after.snapshots.some((s) => s.moref === second.moref), 'gone from vCenter')
  const repeat = await call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${second.moref}`)
  t.equal(repeat.statusCode, 404)
  t.equal(repeat.json().code, 'SNAPSHOT_NOT_FOUND')

  // Two snapshots with one name: named by moref only.
  const twins: MoRef[] = []
  for (let i = 0; i < 2; i++) twins.push((await vc.tasks.watch(await vc.createSnapshot(after.ref, 'Twin'))).result as MoRef)
  const ambiguous = await call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/Twin`)
  t.equal(ambiguous.statusCode, 409)
  t.equal(ambiguous.json().code, 'SNAPSHOT_AMBIGUOUS')
  t.same(ambiguous.json().details.morefs, twins.map((r) => r.value))
  const byMoref = await call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${twins[1]!.value}`)
  t.equal(byMoref.statusCode, 200, byMoref.body)
})

t.test('a snapshot whose later snapshots have live clones cannot be removed either', async (t) => {
  // A snapshot of its own, taken after Base (and whatever earlier tests took): the current one.
  const before = await vm(VERIFICATION)
  const later = (await vc.tasks.watch(await vc.createSnapshot(before.ref, 'Verification later'))).result as MoRef
  const parent = await vm(VERIFICATION)
  const adopted = parent.snapshots.find((s) => s.moref === later.value)!
  t.equal(parent.current, adopted.moref)
  const created = await call('POST', '/v1/pools', { name: 'ver', parent: VERIFICATION, prefix: 'Ver', startNumber: 1, size: 1 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')

  const res = await call('DELETE', `/v1/parents/${enc(VERIFICATION)}/snapshots/Base`)
  t.equal(res.statusCode, 409, res.body)
  t.equal(res.json().code, 'SNAPSHOT_IN_USE')
  t.same(res.json().details.usedSnapshots, [adopted.moref])
  t.same(res.json().details.pools, ['ver'])
  t.same((await vm(VERIFICATION)).snapshots, parent.snapshots, 'nothing removed')

  const strip = await call('DELETE', '/v1/pools/ver')
  t.equal((await waitForDeployment(service, strip.json().deploymentId)).status, 'succeeded')
})
