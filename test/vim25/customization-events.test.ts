/**
 * The customization watcher against the lab: one EventHistoryCollector and one WaitForUpdatesEx loop
 * for every VM waited for; each outcome (succeeded, failed with the event's message, timeout), events
 * posted before the wait began read back from history, and many guests waited for at once.
 */
import t from 'tap'
import { startSimulator, type RunningSimulator } from '../../sim/launcher.js'
import { VimClient, type MoRef } from '../../src/vim25/index.js'

let sim: RunningSimulator
let vc: VimClient

t.before(async () => {
  sim = await startSimulator({ guestMs: 400, guestFail: ['Tmpl Verification 1.0'], guestHang: ['Tmpl Kiosk 1.0'] })
  vc = await VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
})
t.teardown(async () => {
  await vc?.close()
  await sim?.stop()
})

async function parent(name: string): Promise<{ ref: MoRef; folder: MoRef; pool: MoRef; snapshot: MoRef }> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'parent', 'resourcePool', 'snapshot'])
  const o = all.find((v) => v.props.name === name)!
  return {
    ref: o.obj as MoRef,
    folder: o.props.parent as MoRef,
    pool: o.props.resourcePool as MoRef,
    snapshot: (o.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot,
  }
}

/** Clones, customizes and powers on; returns the clone and when it was powered on. */
async function poweredOnClone(parentName: string, spec: string, name: string): Promise<{ vm: MoRef; at: Date }> {
  const p = await parent(parentName)
  const info = await vc.tasks.watch(
    await vc.cloneVM(p.ref, p.folder, name, {
      location: { diskMoveType: 'createNewChildDiskBacking', pool: p.pool },
      template: false,
      powerOn: false,
      snapshot: p.snapshot,
    }),
  )
  const vm = info.result as MoRef
  await vc.tasks.watch(await vc.customizeVM(vm, (await vc.getCustomizationSpec(spec)).spec))
  const at = new Date()
  await vc.tasks.watch(await vc.powerOnVM(vm))
  return { vm, at }
}

t.test('a guest that customizes: succeeded, with start and end', async (t) => {
  const { vm, at } = await poweredOnClone('Tmpl Capture 1.0', 'Capture', 'GuestOk')
  const outcome = await vc.customizations.wait(vm.value, at, 30_000)
  t.equal(outcome.outcome, 'succeeded')
  t.equal(outcome.eventType, 'CustomizationSucceeded')
  t.ok(outcome.startedAt && outcome.endedAt && outcome.endedAt >= outcome.startedAt, 'start and end recorded')
})

t.test('a guest whose customization fails: failed, with the event and its message', async (t) => {
  const { vm, at } = await poweredOnClone('Tmpl Verification 1.0', 'Verification', 'GuestFail')
  const outcome = await vc.customizations.wait(vm.value, at, 30_000)
  t.equal(outcome.outcome, 'failed')
  t.equal(outcome.eventType, 'CustomizationSysprepFailed')
  t.match(outcome.message, /GuestFail/)
})

t.test('a guest that never ends: timeout after the limit, with its start', async (t) => {
  const { vm, at } = await poweredOnClone('Tmpl Kiosk 1.0', 'Kiosk', 'GuestHang')
  const outcome = await vc.customizations.wait(vm.value, at, 1500)
  t.equal(outcome.outcome, 'timeout')
  t.ok(outcome.startedAt, 'the start was seen')
})

t.test('events posted before the wait began are read back', async (t) => {
  const { vm, at } = await poweredOnClone('Tmpl Capture 1.0', 'Capture', 'GuestEarly')
  // Long after the guest finished (as after a restart): only history can tell.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const other = await VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
  t.teardown(() => other.close())
  const outcome = await other.customizations.wait(vm.value, at, 30_000)
  t.equal(outcome.outcome, 'succeeded')
})

t.test('many guests at once share one collector and one loop', async (t) => {
  const clones = await Promise.all(Array.from({ length: 8 }, (_, i) => poweredOnClone('Tmpl Capture 1.0', 'Capture', `GuestMany${i}`)))
  await sim.resetStats()
  const outcomes = await Promise.all(clones.map(({ vm, at }) => vc.customizations.wait(vm.value, at, 30_000)))
  t.same(outcomes.map((o) => o.outcome), Array(8).fill('succeeded'))
  const { methods } = await sim.stats()
  t.ok((methods.CreateCollectorForEvents?.count ?? 0) <= 1, 'no new event collector per guest')
  t.equal(methods.QueryEvents?.count ?? 0, 8, 'one history read per guest')
})
