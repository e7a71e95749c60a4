// The vim25 client against the seeded govmomi simulator (sim/launcher.ts): the whole flow of a
// linked clone (read the parent, clone from its snapshot, customize, power on, custom attributes),
// typed faults, the shared task watcher's call budget, and re-login after the session ends.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { startSimulator } from '../../sim/launcher.js'
import {
  decodeCustomFieldValues,
  decodeSnapshotInfo,
  isFault,
  methods,
  TaskFailedError,
  TaskVanishedError,
  VimClient,
  VimFault,
} from '../../src/vim25/index.js'
import type { CustomFieldDef, MoRef, VirtualMachineSnapshotTree } from '../../src/vim25/index.js'

const PARENT = 'Tmpl Capture 1.0'
const CONFLICT = 'Capture99' // seeded: a clone name that already exists

// Clones take a little while, like on a real vCenter, so that concurrent calls overlap.
const sim = await startSimulator({ hosts: 2, delays: { CloneVM_Task: 200 } })
const client = await VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
t.teardown(async () => {
  await client.close()
  await sim.stop()
})

/** Calls per method made by `fn`, from the client's own counters. */
async function countCalls<T>(fn: () => Promise<T>): Promise<{ value: T; calls: Record<string, number>; total: number }> {
  const before = client.callsByMethod()
  const value = await fn()
  const calls: Record<string, number> = {}
  for (const [m, n] of Object.entries(client.callsByMethod())) {
    const d = n - (before[m] ?? 0)
    if (d > 0) calls[m] = d
  }
  return { value, calls, total: Object.values(calls).reduce((a, b) => a + b, 0) }
}

function findSnapshot(list: VirtualMachineSnapshotTree[], ref: MoRef): VirtualMachineSnapshotTree | undefined {
  for (const s of list) {
    if (s.snapshot.value === ref.value) return s
    const child = findSnapshot(s.childSnapshotList, ref)
    if (child) return child
  }
  return undefined
}

let fields: CustomFieldDef[] = []
const fieldKey = (name: string) => fields.find((f) => f.name === name)?.key

let parent: MoRef
let folder: MoRef
let snapshot: MoRef

t.test('connects and logs in', async (t) => {
  t.equal(client.serviceContent.about.apiType, 'VirtualCenter')
  t.ok(client.serviceContent.customizationSpecManager)
  t.equal(client.session.userSession?.userName, sim.username)
  t.equal(client.session.loginCount, 1)
  t.ok(client.transport.apiVersion, `SOAPAction version ${client.transport.apiVersion}`)
})

t.test('lists all VMs in bulk through a container view (3 calls)', async (t) => {
  const { value: vms, calls } = await countCalls(() =>
    client.property.listByType(client.serviceContent.rootFolder, 'VirtualMachine', [
      'name',
      'parent',
      'snapshot',
      'customValue',
      'runtime.powerState',
    ]),
  )
  t.same(calls, { CreateContainerView: 1, RetrievePropertiesEx: 1, DestroyView: 1 })
  const names = vms.map((v) => v.props.name)
  t.ok(names.includes(PARENT), `found ${names.join(', ')}`)
  const p = vms.find((v) => v.props.name === PARENT)!
  parent = p.obj
  folder = p.props.parent as MoRef
  t.equal(folder.type, 'Folder')
  t.equal(p.props['runtime.powerState'], 'poweredOff')
})

t.test("reads the parent's current snapshot and custom attributes", async (t) => {
  const props = await client.property.retrieveOne(parent, ['snapshot.currentSnapshot', 'snapshot', 'customValue'])
  const current = props['snapshot.currentSnapshot'] as MoRef
  t.equal(current.type, 'VirtualMachineSnapshot')
  snapshot = current
  const info = decodeSnapshotInfo(props.snapshot)!
  t.equal(findSnapshot(info.rootSnapshotList, current)?.name, 'Base')

  fields = await client.customFieldDefs()
  const values = decodeCustomFieldValues(props.customValue)
  t.equal(values.find((v) => v.key === fieldKey('Customisation'))?.value, 'Capture')
})

let clone: MoRef
const cloneUuid = randomUUID()

t.test('clones from the snapshot, customizes with the fetched spec, powers on', async (t) => {
  t.equal(await client.customizationSpecExists('Capture'), true)
  t.equal(await client.customizationSpecExists('No such spec'), false)
  const item = await client.getCustomizationSpec('Capture')
  t.equal(item.info.name, 'Capture')

  const task = await client.cloneVM(parent, folder, 'Capture01', {
    location: { diskMoveType: 'createNewChildDiskBacking' },
    config: { instanceUuid: cloneUuid },
    snapshot,
  })
  t.equal(task.type, 'Task')
  const info = await client.tasks.watch(task)
  t.equal(info.state, 'success')
  t.equal(info.descriptionId, 'VirtualMachine.cloneVm')
  clone = info.result as MoRef
  t.equal(clone.type, 'VirtualMachine')

  const cloned = await client.property.retrieveOne(clone, ['name', 'config.instanceUuid', 'runtime.powerState'])
  t.equal(cloned.name, 'Capture01')
  t.equal(cloned['config.instanceUuid'], cloneUuid, 'the instance UUID we chose')

  // The spec goes back exactly as it came (xsi:types, element order).
  const customized = await client.tasks.watch(await client.customizeVM(clone, item.spec))
  t.equal(customized.state, 'success')
  const powered = await client.tasks.watch(await client.powerOnVM(clone))
  t.equal(powered.state, 'success')
  t.equal((await client.property.retrieveOne(clone, ['runtime.powerState']))['runtime.powerState'], 'poweredOn')
})

t.test('a custom value with XML specials and non-ASCII reads back exactly', async (t) => {
  const value = `Training <&>'" Ünïcødé 中文 😀 a\r\nb\tc`
  await client.setCustomValue(clone, 'Project', value)
  await client.setCustomValue(clone, 'Template', PARENT)
  const props = await client.property.retrieveOne(clone, ['customValue'])
  const values = decodeCustomFieldValues(props.customValue)
  t.equal(values.find((v) => v.key === fieldKey('Project'))?.value, value)
  t.equal(values.find((v) => v.key === fieldKey('Template'))?.value, PARENT)
  await t.rejects(client.setCustomValue(clone, 'Bad', 'nul \u0000 char'), { name: 'XmlEncodeError' }, 'refused before sending')
})

t.test('finds the clone by the instance UUID chosen before cloning', async (t) => {
  t.same(await client.findVmByInstanceUuid(cloneUuid), clone)
  t.equal(await client.findVmByInstanceUuid(randomUUID()), undefined)
  t.ok(await client.currentTime() instanceof Date)
})

t.test('faults are typed', async (t) => {
  const dup = await client.tasks
    .watch(await client.cloneVM(parent, folder, CONFLICT, { location: { diskMoveType: 'createNewChildDiskBacking' }, snapshot }))
    .catch((e: unknown) => e)
  t.ok(dup instanceof TaskFailedError, 'the clone task fails')
  t.ok(isFault(dup, 'DuplicateName'), `DuplicateName: ${(dup as Error).message}`)
  t.equal((dup as TaskFailedError).task.type, 'Task')

  const field = await client.addCustomFieldDef('Customisation', 'VirtualMachine').catch((e: unknown) => e)
  t.ok(field instanceof VimFault && isFault(field, 'DuplicateName'), 'a fault of the call itself')

  const powerState = await client.tasks.watch(await client.customizeVM(clone, (await client.getCustomizationSpec('Capture')).spec)).catch((e: unknown) => e)
  t.ok(isFault(powerState, 'InvalidPowerState'), 'customizing a powered-on VM')

  const missing = await client.property.retrieveOne({ type: 'VirtualMachine', value: 'vm-does-not-exist' }, ['name']).catch((e: unknown) => e)
  t.ok(isFault(missing, 'ManagedObjectNotFound'))

  const results = await Promise.allSettled([
    client.tasks.watch({ type: 'Task', value: 'task-does-not-exist' }),
    client.tasks.watch(await client.powerOffVM(clone)),
  ])
  t.ok(results[0].status === 'rejected' && results[0].reason instanceof TaskVanishedError, 'a vanished task')
  t.equal(results[1].status, 'fulfilled', 'does not disturb a task watched with it')
  await client.tasks.watch(await client.powerOnVM(clone))
})

t.test('watches 20 tasks in flight on the one collector, without reading each task', async (t) => {
  await sim.resetStats()
  const names = Array.from({ length: 20 }, (_, i) => `Capture${String(i + 40).padStart(2, '0')}`)
  const { value: clones, calls, total } = await countCalls(() =>
    Promise.all(
      names.map(async (name) => {
        const task = await client.cloneVM(parent, folder, name, { location: { diskMoveType: 'createNewChildDiskBacking' }, snapshot })
        return (await client.tasks.watch(task)).result as MoRef
      }),
    ),
  )
  t.equal(new Set(clones.map((c) => c.value)).size, 20)
  const stats = await sim.stats()
  const watcherCalls = total - (calls.CloneVM_Task ?? 0)
  t.equal(stats.total, total, 'the simulator saw the calls we counted')
  t.comment(`20 clones: ${JSON.stringify(calls)}; watcher ${watcherCalls} calls = ${(watcherCalls / 20).toFixed(2)} per task`)
  // How few calls depends on when the tasks end (npm run bench measures calls per task). The rules: no
  // collector or filter per task, and never more than a call per task (no polling).
  for (const method of ['CreatePropertyCollector', 'CreateFilter']) t.ok((calls[method] ?? 0) <= 1, `${method}: ${calls[method] ?? 0} for 20 tasks`)
  t.ok(watcherCalls <= 20, `at most one call per task (${watcherCalls})`)

  const { value: infos, calls: powerCalls, total: powerTotal } = await countCalls(() =>
    Promise.all(clones.map(async (vm) => client.tasks.watch(await client.powerOnVM(vm)))),
  )
  t.ok(infos.every((i) => i.state === 'success'))
  const powerWatcher = powerTotal - (powerCalls.PowerOnVM_Task ?? 0)
  t.comment(`20 power-ons: ${JSON.stringify(powerCalls)}; watcher ${powerWatcher} calls = ${(powerWatcher / 20).toFixed(2)} per task`)
  for (const method of ['CreatePropertyCollector', 'CreateFilter']) {
    t.ok((powerCalls[method] ?? 0) <= 1, `${method}: ${powerCalls[method] ?? 0} for 20 power-ons`)
  }
  t.ok(powerWatcher <= 20, `at most one call per task (${powerWatcher})`)
})

t.test('snapshots, powers off and destroys a VM; finds it by inventory path first', async (t) => {
  const task = await client.cloneVM(parent, folder, 'Capture30', { location: { diskMoveType: 'createNewChildDiskBacking' }, snapshot })
  const vm = (await client.tasks.watch(task)).result as MoRef
  t.same(await client.findByInventoryPath('DC0/vm/Capture30'), vm)
  await client.tasks.watch(await client.createSnapshot(vm, 'Before <update>', { description: 'Ünïcødé & co' }))
  const snap = decodeSnapshotInfo((await client.property.retrieveOne(vm, ['snapshot'])).snapshot)
  t.equal(snap?.rootSnapshotList[0]?.name, 'Before <update>')
  t.equal(snap?.rootSnapshotList[0]?.description, 'Ünïcødé & co')
  await client.tasks.watch(await client.powerOnVM(vm))
  await client.tasks.watch(await client.powerOffVM(vm))
  await client.tasks.watch(await client.destroy(vm))
  const gone = await client.property.retrieveOne(vm, ['name']).catch((e: unknown) => e)
  t.ok(isFault(gone, 'ManagedObjectNotFound'), 'destroyed')
  t.equal(await client.findByInventoryPath('DC0/vm/Capture30'), undefined)
})

t.test('watch(): one entry per task, finished tasks cost no call, abort and timeout', async (t) => {
  const task = await client.powerOffVM(clone)
  const [a, b] = await Promise.all([client.tasks.watch(task), client.tasks.watch(task)])
  t.same(a, b, 'two watchers of one task')
  const { value: again, total } = await countCalls(() => client.tasks.watch(task))
  t.equal(again.state, 'success')
  t.equal(total, 0, 'a finished task is answered from memory')

  const ac = new AbortController()
  ac.abort(new Error('caller gave up'))
  await t.rejects(client.tasks.watch(await client.powerOnVM(clone), { signal: ac.signal }), /caller gave up/)
  t.equal(client.tasks.pendingCount, 0)
  // A timeout of 0 ms fires before the batch is even sent.
  const quick = await client.powerOffVM(clone)
  await t.rejects(client.tasks.watch(quick, { timeoutMs: 0 }), { name: 'TaskWatchTimeoutError' })
  t.equal((await client.tasks.watch(quick)).state, 'success', 'and the task can still be watched')
  await client.tasks.watch(await client.powerOnVM(clone))
})

t.test('logs in again after the session is ended behind its back', async (t) => {
  const logoutBehindTheBack = () => methods.Logout(client.transport, { _this: client.serviceContent.sessionManager })

  await logoutBehindTheBack()
  const logins = client.session.loginCount
  const times = await Promise.all(Array.from({ length: 5 }, () => client.currentTime()))
  t.equal(times.length, 5)
  t.equal(client.session.loginCount, logins + 1, 'five callers, one re-login')

  // vcsim answers RetrievePropertiesEx without a session with NotAuthenticated in missingSet.
  await logoutBehindTheBack()
  const props = await client.property.retrieveOne(clone, ['name'])
  t.equal(props.name, 'Capture01')
  t.equal(client.session.loginCount, logins + 2)

  await logoutBehindTheBack()
  const vms = await client.property.listByType(client.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  t.ok(vms.some((v) => v.props.name === 'Capture01'), 'a container view listing')
  t.equal(client.session.loginCount, logins + 3)

  // The watcher's collector and view belonged to the old session: it recreates them.
  await logoutBehindTheBack()
  const { value: info, calls } = await countCalls(async () => client.tasks.watch(await client.powerOffVM(clone)))
  t.equal(info.state, 'success')
  t.equal(calls.CreatePropertyCollector, 1, `collector recreated: ${JSON.stringify(calls)}`)
  t.equal(client.session.loginCount, logins + 4)
})

t.test('close() logs out; the client refuses further calls', async (t) => {
  const other = await VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
  await other.tasks.watch(await other.powerOnVM(clone).catch(() => other.powerOffVM(clone)))
  await other.close()
  await t.rejects(other.currentTime(), { name: 'VimSessionClosedError', code: 'VIM_SESSION_CLOSED' })
  t.equal(other.tasks.pendingCount, 0)
})
