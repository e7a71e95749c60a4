/**
 * When things go wrong: a clone whose vCenter task fails fails alone and the deployment says which;
 * a job that resumes after an interrupted attempt adopts the clone that attempt made (found by the
 * instance UUID chosen before cloning) instead of cloning twice. The deployments are accepted by an
 * API-only process and carried out by a second process on the same database, as replicas would.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../../src/app.js'
import { VimClient, type MoRef, type VirtualMachineCloneSpec } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

let api: TestService
let vc: VimClient

t.before(async () => {
  api = await startTestService({ runWorkers: false })
  vc = await connectToSimulator(api.sim)
})
t.teardown(async () => {
  await vc?.close()
  await api?.stop()
})

/** A second process of the service, running the clone jobs. */
async function startWorkers(): Promise<FastifyInstance> {
  const worker = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  await worker.ready()
  return worker
}

async function vmsNamed(name: string): Promise<{ ref: MoRef; instanceUuid: string }[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'config.instanceUuid'])
  return all.filter((o) => o.props.name === name).map((o) => ({ ref: o.obj, instanceUuid: o.props['config.instanceUuid'] as string }))
}

/** Makes a VM in the parent's folder the way an earlier attempt (or someone else) would have. */
async function cloneBehindTheServicesBack(name: string, instanceUuid?: string): Promise<MoRef> {
  const [parent] = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'parent', 'resourcePool', 'snapshot'])
    .then((vms) => vms.filter((o) => o.props.name === 'Tmpl Capture 1.0'))
  const spec: VirtualMachineCloneSpec = {
    location: { diskMoveType: 'createNewChildDiskBacking', pool: parent!.props.resourcePool as MoRef },
    template: false,
    ...(instanceUuid ? { config: { instanceUuid } } : {}),
    powerOn: false,
    snapshot: (parent!.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot,
  }
  const task = await vc.cloneVM(parent!.obj, parent!.props.parent as MoRef, name, spec)
  return (await vc.tasks.watch(task)).result as MoRef
}

async function accept(payload: object) {
  const res = await api.app.inject({ method: 'POST', url: '/v1/deployments', headers: api.auth(), payload })
  t.equal(res.statusCode, 202, res.body)
  return res.json()
}

t.test('a clone whose task fails fails alone, with the fault; the deployment says which', async (t) => {
  const accepted = await accept({ parent: 'Tmpl Capture 1.0', count: 3, startNumber: 10 })
  // Someone takes Capture11 in vCenter after the deployment was accepted.
  const intruder = await cloneBehindTheServicesBack('Capture11')

  const worker = await startWorkers()
  t.teardown(() => worker.close())
  const done = await waitForDeployment(api, accepted.id)

  t.equal(done.status, 'failed')
  t.same(done.error, { code: 'CLONES_FAILED', message: '1 of 3 clones failed; see each clone\'s error' })
  const byName = Object.fromEntries(done.clones.map((c: any) => [c.name, c]))
  t.equal(byName.Capture10.status, 'ready')
  t.equal(byName.Capture12.status, 'ready')
  t.equal(byName.Capture11.status, 'failed')
  t.equal(byName.Capture11.error.code, 'NAME_CONFLICT')
  t.equal(byName.Capture11.error.faultType, 'DuplicateName')
  t.match(byName.Capture11.error.message, /already exists/)
  const capture11 = await vmsNamed('Capture11')
  t.equal(capture11.length, 1, 'the other VM is left alone')
  t.equal(capture11[0]!.ref.value, intruder.value)
  t.equal(done.progress.failed, 1)

  // The failed clone frees its name for a later deployment; the live ones keep theirs.
  const again = await api.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: api.auth(),
    payload: { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 10 },
  })
  t.equal(again.statusCode, 409)
  t.same(again.json().details.names, ['Capture10', 'Capture11', 'Capture12'])
})

t.test('a resumed job adopts the clone an interrupted attempt made, by instance UUID', async (t) => {
  const accepted = await accept({ parent: 'Tmpl Capture 1.0', count: 2, startNumber: 20 })
  const [first] = accepted.clones
  // The earlier attempt got as far as CloneVM_Task: the VM exists, but its answer was never recorded.
  const made = await cloneBehindTheServicesBack(first.name, first.instanceUuid)
  await api.app.database.pool.query(`UPDATE clones SET status = 'cloning', task_moref = 'task-lost' WHERE name = $1`, [first.name])

  const worker = await startWorkers()
  t.teardown(() => worker.close())
  const done = await waitForDeployment(api, accepted.id)
  t.equal(done.status, 'succeeded', JSON.stringify(done.clones))
  const vms = await vmsNamed(first.name)
  t.equal(vms.length, 1, 'cloned once')
  t.equal(vms[0]!.ref.value, made.value, 'the VM the earlier attempt made was adopted')
  t.equal(done.clones[0].moref, made.value)
  const steps = await api.app.database.pool.query(
    `SELECT s.step, s.outcome, s.detail FROM clone_steps s JOIN clones c ON c.id = s.clone_id WHERE c.name = $1 ORDER BY s.id`,
    [first.name],
  )
  t.match(steps.rows[0], { step: 'cloning', outcome: 'succeeded', detail: /instance UUID/ })
  t.same(steps.rows.map((r) => r.step), ['cloning', 'customizing', 'powering_on', 'guest_customizing', 'setting_attributes'])
})

t.test('a DuplicateName for a VM with our instance UUID adopts it', async (t) => {
  const accepted = await accept({ parent: 'Tmpl Capture 1.0', count: 1, startNumber: 30 })
  const [only] = accepted.clones
  // Made by an attempt whose record was lost entirely: the clone still reads "pending".
  const made = await cloneBehindTheServicesBack(only.name, only.instanceUuid)

  const worker = await startWorkers()
  t.teardown(() => worker.close())
  const done = await waitForDeployment(api, accepted.id)
  t.equal(done.status, 'succeeded')
  t.equal(done.clones[0].moref, made.value)
  t.equal((await vmsNamed(only.name)).length, 1)
})
