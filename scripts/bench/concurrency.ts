/**
 * How much the service overlaps vCenter's work, and how evenly it shares it: the figures the tests
 * no longer assert because they depend on the machine's speed (the tests check the limits hold).
 *
 *   - overlap: two deployments of 8 at LIMIT_VCENTER_OPERATIONS=4; the most operations the simulator
 *     saw in flight at once, next to the limit (1.00: the limit was reached);
 *   - host limit: 6 clones on one host at LIMIT_HOST_OPERATIONS=2; the most in flight, next to 2;
 *   - sharing: ten deployments of 10 accepted one after another; whether every one started before any
 *     finished, and the longest duration over the shortest;
 *   - the task watcher: 20 clones watched at once by one client; its calls per task.
 */
import { VimClient, type MoRef } from '../../src/vim25/index.js'
import { apiClient, startLab, type Lab } from '../lib/lab.js'

const DELAYS = { CloneVM_Task: 400, CustomizeVM_Task: 100, PowerOnVM_Task: 100 }

async function deployAndWait(lab: Lab, payloads: object[]): Promise<any[]> {
  const api = apiClient(lab)
  const ids: string[] = []
  for (const payload of payloads) {
    const res = await api('POST', '/v1/deployments', payload)
    if (res.status !== 202) throw new Error(`${res.status} ${JSON.stringify(res.body)}`)
    ids.push(res.body.id)
  }
  const deadline = Date.now() + 600_000
  for (;;) {
    const states = await Promise.all(ids.map((id) => api('GET', `/v1/deployments/${id}`).then((r) => r.body)))
    if (states.every((d) => d.status === 'succeeded' || d.status === 'failed')) return states
    if (Date.now() > deadline) throw new Error('deployments did not finish in 10 minutes')
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function benchConcurrency(say: (line: string) => void): Promise<void> {
  const lab = await startLab({ delays: DELAYS, env: { LIMIT_VCENTER_OPERATIONS: '4', LIMIT_HOST_OPERATIONS: '2' } })
  try {
    await lab.sim.resetStats()
    await deployAndWait(lab, [
      { parent: 'Tmpl Capture 1.0', count: 8, startNumber: 1 },
      { parent: 'Tmpl Packaging 1.0', count: 8, startNumber: 1 },
    ])
    const overlap = (await lab.sim.stats()).tasks.maxInFlight
    say(`overlap: at most ${overlap} operations in flight at LIMIT_VCENTER_OPERATIONS=4 (${(overlap / 4).toFixed(2)} of the limit)`)

    await lab.sim.resetStats()
    await deployAndWait(lab, [{ parent: 'Tmpl Capture 1.0', count: 6, startNumber: 40, hostLimit: 1 }])
    const onHost = (await lab.sim.stats()).tasks.maxInFlight
    say(`host limit: at most ${onHost} operations in flight on one host at LIMIT_HOST_OPERATIONS=2 (${(onHost / 2).toFixed(2)} of the limit)`)

    const done = await deployAndWait(
      lab,
      Array.from({ length: 10 }, (_, i) => ({ parent: 'Tmpl Verification 1.0', count: 10, startNumber: 100 + i * 10, prefix: `Fair${i}-` })),
    )
    const firstFinish = Math.min(...done.map((d) => Date.parse(d.finishedAt)))
    const lastStart = Math.max(...done.map((d) => Date.parse(d.startedAt)))
    const durations = done.map((d) => d.durationSeconds as number)
    say(
      `sharing: 10 deployments of 10; every one started before any finished: ${lastStart < firstFinish ? 'yes' : 'no'}; ` +
        `durations ${Math.min(...durations).toFixed(1)}-${Math.max(...durations).toFixed(1)} s (longest / shortest ${(Math.max(...durations) / Math.min(...durations)).toFixed(2)})`,
    )

    const client = await VimClient.connect({ url: lab.sim.url, username: lab.sim.username, password: lab.sim.password, insecure: true })
    try {
      const [parent] = (await client.property.listByType(client.serviceContent.rootFolder, 'VirtualMachine', ['name', 'parent', 'snapshot'])).filter(
        (o) => o.props.name === 'Tmpl Kiosk 1.0',
      )
      const snapshot = (parent!.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot
      const before = client.callsByMethod()
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const task = await client.cloneVM(parent!.obj, parent!.props.parent as MoRef, `Watched${i}`, {
            location: { diskMoveType: 'createNewChildDiskBacking' },
            snapshot,
          })
          await client.tasks.watch(task)
        }),
      )
      const after = client.callsByMethod()
      const calls = Object.entries(after).reduce((sum, [m, n]) => sum + (m === 'CloneVM_Task' ? 0 : n - (before[m] ?? 0)), 0)
      say(`task watcher: ${calls} calls for 20 tasks watched at once (${(calls / 20).toFixed(2)} per task)`)
    } finally {
      await client.close()
    }
  } finally {
    await lab.stop()
  }
}
