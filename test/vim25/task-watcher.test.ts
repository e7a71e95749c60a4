// The task watcher's state machine in the situations vcsim cannot produce: in vcsim 0.24 a task
// has finished when its *_Task call returns, so "running, then done later", tasks purged from
// the server and sessions that expire mid-wait need a scripted PropertyCollector. It follows
// vCenter's documented semantics: ModifyListView returns the objects it could not add; objects
// entering a view are reported ('enter') with their current values by the next WaitForUpdatesEx;
// changes are 'modify'; objects removed from the view 'leave'; collectors die with their session.
// The simulator-backed tests are in client.integration.test.ts.
import t from 'tap'
import type { Test } from 'tap'
import {
  isFault,
  TaskFailedError,
  TaskVanishedError,
  TaskWatcher,
  TaskWatcherClosedError,
  VimFault,
} from '../../src/vim25/index.js'
import type { CallOptions, MoRef, RequestBody, RoundTripper, ServiceContent } from '../../src/vim25/index.js'

type State = 'queued' | 'running' | 'success' | 'error'
interface FakeTask {
  state: State
  result?: MoRef
  fault?: string
}
interface Update {
  kind: 'enter' | 'modify' | 'leave'
  task: string
  changes: [string, unknown][]
}
interface Collector {
  generation: number
  view?: string
  filter?: string
  inView: Set<string>
  queue: Update[]
  version: number
  wake?: () => void
}

const content = {
  propertyCollector: { type: 'PropertyCollector', value: 'propertyCollector' },
  viewManager: { type: 'ViewManager', value: 'ViewManager' },
} as ServiceContent

const stateVal = (s: State) => ({ _type: 'TaskInfoState', _value: s })

class FakeVCenter implements RoundTripper {
  generation = 1
  readonly tasks = new Map<string, FakeTask>()
  readonly calls: { method: string; body: RequestBody }[] = []
  private readonly collectors = new Map<string, Collector>()
  private n = 0

  count(method?: string): number {
    return method ? this.calls.filter((c) => c.method === method).length : this.calls.length
  }

  addTask(id: string, state: State = 'running'): MoRef {
    this.tasks.set(id, { state })
    return { type: 'Task', value: id }
  }

  /** The task changes state: every collector whose view holds it hears about it. */
  set(id: string, state: State, extra: { result?: MoRef; fault?: string } = {}) {
    const task = this.tasks.get(id)!
    Object.assign(task, { state }, extra)
    const changes: [string, unknown][] = [['info.state', stateVal(state)]]
    if (extra.result) changes.push(['info.result', { _type: 'ManagedObjectReference', ...extra.result }])
    if (extra.fault) changes.push(['info.error', this.error(extra.fault)])
    this.notify({ kind: 'modify', task: id, changes })
  }

  /** The server forgets the task (vCenter restart, expiry). */
  purge(id: string) {
    this.tasks.delete(id)
    this.notify({ kind: 'leave', task: id, changes: [] })
  }

  /** The session ends (idle timeout); the session layer logs in again: new generation. */
  expireSession() {
    for (const c of this.collectors.values()) c.wake?.()
    this.collectors.clear()
    this.generation++
  }

  private error(fault: string) {
    return { _type: 'LocalizedMethodFault', fault: { _type: fault, name: 'x' }, localizedMessage: `${fault} happened` }
  }

  private notify(u: Update) {
    for (const c of this.collectors.values()) {
      if (!c.inView.has(u.task)) continue
      if (u.kind === 'leave') c.inView.delete(u.task)
      c.queue.push(u)
      c.wake?.()
    }
  }

  private collector(ref: unknown, method: string): Collector {
    const value = (ref as MoRef).value
    const c = this.collectors.get(value) ?? [...this.collectors.values()].find((x) => x.view === value)
    if (!c) throw new VimFault({ faultCode: 'ServerFaultCode', faultString: '', faultType: 'ManagedObjectNotFound', detail: { _type: 'ManagedObjectNotFound', obj: ref } }, method)
    return c
  }

  async invoke(method: string, body: RequestBody, opts?: CallOptions): Promise<unknown> {
    this.calls.push({ method, body })
    await new Promise((r) => setImmediate(r))
    switch (method) {
      case 'CreatePropertyCollector': {
        const id = `pc-${++this.n}`
        this.collectors.set(id, { generation: this.generation, inView: new Set(), queue: [], version: 0 })
        return { type: 'PropertyCollector', value: id }
      }
      case 'CreateListView': {
        const c = [...this.collectors.values()].at(-1)!
        c.view = `lv-${++this.n}`
        return { type: 'ListView', value: c.view }
      }
      case 'CreateFilter': {
        const c = this.collector(body._this, method)
        c.filter = `filter-${++this.n}`
        return { type: 'PropertyFilter', value: c.filter }
      }
      case 'ModifyListView': {
        const c = this.collector(body._this, method)
        const notAdded: MoRef[] = []
        for (const r of (body.add as MoRef[] | undefined) ?? []) {
          const task = this.tasks.get(r.value)
          if (!task) {
            notAdded.push(r)
            continue
          }
          if (c.inView.has(r.value)) continue
          c.inView.add(r.value)
          const changes: [string, unknown][] = [
            ['info.key', r.value],
            ['info.descriptionId', 'VirtualMachine.clone'],
            ['info.state', stateVal(task.state)],
          ]
          if (task.result) changes.push(['info.result', { _type: 'ManagedObjectReference', ...task.result }])
          if (task.fault) changes.push(['info.error', this.error(task.fault)])
          c.queue.push({ kind: 'enter', task: r.value, changes })
        }
        for (const r of (body.remove as MoRef[] | undefined) ?? []) {
          if (c.inView.delete(r.value)) c.queue.push({ kind: 'leave', task: r.value, changes: [] })
        }
        c.wake?.()
        return notAdded
      }
      case 'WaitForUpdatesEx': {
        const c = this.collector(body._this, method)
        if (c.queue.length === 0) {
          const maxWait = Number((body.options as { maxWaitSeconds?: number } | undefined)?.maxWaitSeconds ?? 60)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(maxWait * 1000, opts?.timeoutMs ?? Infinity))
            c.wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
          c.wake = undefined
        }
        if (!this.collectors.has((body._this as MoRef).value)) {
          throw new VimFault({ faultCode: 'ServerFaultCode', faultString: '', faultType: 'NotAuthenticated', detail: { _type: 'NotAuthenticated' } }, method)
        }
        if (c.queue.length === 0) return undefined
        const updates = c.queue.splice(0)
        c.version++
        return {
          version: String(c.version),
          filterSet: {
            filter: { type: 'PropertyFilter', value: c.filter },
            objectSet: updates.map((u) => ({
              kind: u.kind,
              obj: { type: 'Task', value: u.task },
              changeSet: u.changes.map(([name, val]) => ({ name, op: 'assign', val })),
            })),
          },
        }
      }
      case 'CancelWaitForUpdates':
        this.collector(body._this, method).wake?.()
        return undefined
      case 'DestroyView':
        return undefined
      case 'DestroyPropertyCollector':
        this.collectors.delete((body._this as MoRef).value)
        return undefined
      default:
        throw new Error(`unexpected ${method}`)
    }
  }
}

function setup(t: Test, opts: { minWaitIntervalMs?: number; batchDelayMs?: number } = {}) {
  const vc = new FakeVCenter()
  const watcher = new TaskWatcher(vc, () => content, vc, { maxWaitSeconds: 5, minWaitIntervalMs: 20, batchDelayMs: 5, ...opts })
  t.teardown(() => watcher.close())
  return { vc, watcher }
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms))

t.test('running tasks resolve when they finish; failures are typed', async (t) => {
  const { vc, watcher } = setup(t)
  const a = vc.addTask('task-1')
  const b = vc.addTask('task-2')
  const pa = watcher.watch(a)
  const pb = watcher.watch(b)
  await tick()
  t.equal(watcher.pendingCount, 2)
  vc.set('task-1', 'success', { result: { type: 'VirtualMachine', value: 'vm-9' } })
  const info = await pa
  t.equal(info.state, 'success')
  t.same(info.result, { type: 'VirtualMachine', value: 'vm-9' })
  t.equal(info.descriptionId, 'VirtualMachine.clone')
  vc.set('task-2', 'error', { fault: 'DuplicateName' })
  const err = await pb.catch((e: unknown) => e)
  t.ok(err instanceof TaskFailedError)
  t.ok(isFault(err, 'DuplicateName'))
  t.equal((err as TaskFailedError).localizedMessage, 'DuplicateName happened')
  t.same((err as TaskFailedError).task, b)
  t.equal(vc.count('CreatePropertyCollector'), 1)
  t.equal(vc.count('ModifyListView'), 1, 'both tasks in one batch')
})

t.test('tasks finished before they were watched resolve from the initial report', async (t) => {
  const { vc, watcher } = setup(t)
  const a = vc.addTask('task-1', 'success')
  t.equal((await watcher.watch(a)).state, 'success')
})

t.test('30 tasks finishing at different times are watched on one collector, one view and one filter', async (t) => {
  const { vc, watcher } = setup(t, { minWaitIntervalMs: 50 })
  const ids = Array.from({ length: 30 }, (_, i) => `task-${i}`)
  const watched = ids.map((id) => watcher.watch(vc.addTask(id, 'queued')))
  await tick()
  for (const id of ids) vc.set(id, 'running')
  for (const [i, id] of ids.entries()) {
    setTimeout(() => vc.set(id, 'success'), 20 + i * 7) // spread over ~200 ms
  }
  const infos = await Promise.all(watched)
  t.equal(infos.length, 30)
  const calls = vc.count()
  t.comment(`30 tasks: ${calls} calls (${JSON.stringify(Object.fromEntries(['CreatePropertyCollector', 'CreateListView', 'CreateFilter', 'ModifyListView', 'WaitForUpdatesEx'].map((m) => [m, vc.count(m)])))})`)
  // How many waits it takes depends on when the tasks end (npm run bench measures calls per task);
  // that every task is watched on the one collector, view and filter does not.
  for (const method of ['CreatePropertyCollector', 'CreateListView', 'CreateFilter']) t.equal(vc.count(method), 1, `one ${method} for 30 tasks`)
  t.ok(vc.count('WaitForUpdatesEx') >= 1, 'followed by waiting for updates, not by reading each task')
})

t.test('finished tasks leave the view with the next batch, not in a call of their own', async (t) => {
  const { vc, watcher } = setup(t)
  await watcher.watch(vc.addTask('task-1', 'success'))
  await tick()
  t.equal(vc.count('ModifyListView'), 1)
  await watcher.watch(vc.addTask('task-2', 'success'))
  const modify = vc.calls.filter((c) => c.method === 'ModifyListView')
  t.equal(modify.length, 2)
  t.same(modify[1]!.body.add, [{ type: 'Task', value: 'task-2' }])
  t.same(modify[1]!.body.remove, [{ type: 'Task', value: 'task-1' }])
})

t.test('tasks the server does not know, or forgets, reject with TaskVanishedError', async (t) => {
  const { vc, watcher } = setup(t)
  const unknown = watcher.watch({ type: 'Task', value: 'task-unknown' })
  const known = watcher.watch(vc.addTask('task-1'))
  const err = await unknown.catch((e: unknown) => e)
  t.ok(err instanceof TaskVanishedError, 'not added to the view')
  t.same((err as TaskVanishedError).task, { type: 'Task', value: 'task-unknown' })

  await tick()
  vc.purge('task-1')
  const gone = await known.catch((e: unknown) => e)
  t.ok(gone instanceof TaskVanishedError, 'left the view without us removing it')
})

t.test('a session that ends mid-wait: a new collector, every pending task re-registered', async (t) => {
  const { vc, watcher } = setup(t)
  const a = watcher.watch(vc.addTask('task-1'))
  const b = watcher.watch(vc.addTask('task-2'))
  await tick()
  vc.expireSession()
  vc.set('task-1', 'success') // finishes while nobody listens
  await tick()
  vc.set('task-2', 'success')
  t.equal((await a).state, 'success')
  t.equal((await b).state, 'success')
  t.equal(vc.count('CreatePropertyCollector'), 2, 'recreated once')
})

t.test('abort and timeout release a task; close() rejects the rest and destroys the collector', async (t) => {
  const { vc, watcher } = setup(t)
  const ac = new AbortController()
  const aborted = watcher.watch(vc.addTask('task-1'), { signal: ac.signal })
  const timedOut = watcher.watch(vc.addTask('task-2'), { timeoutMs: 40 })
  const pending = watcher.watch(vc.addTask('task-3')).catch((e: unknown) => e)
  await tick()
  ac.abort()
  await t.rejects(aborted, { name: 'AbortError' })
  await t.rejects(timedOut, { name: 'TaskWatchTimeoutError' })
  t.equal(watcher.pendingCount, 1)
  await watcher.close()
  t.ok((await pending) instanceof TaskWatcherClosedError)
  t.equal(vc.count('DestroyPropertyCollector'), 1)
  await t.rejects(watcher.watch(vc.addTask('task-4')), TaskWatcherClosedError)
})
