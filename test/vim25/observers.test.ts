/**
 * The transport's onCall and the task watcher's onTaskFinished observers against the lab simulator:
 * each call once with its outcome (ok, the fault type, connection), each finished task once.
 */
import t from 'tap'
import { startSimulator, type RunningSimulator } from '../../sim/launcher.js'
import { freePort } from '../../src/db/embedded.js'
import { SoapTransport, VimClient, type CallRecord, type TaskFinished } from '../../src/vim25/index.js'

let sim: RunningSimulator
t.before(async () => {
  sim = await startSimulator()
})
t.teardown(() => sim?.stop())

t.test('every SOAP call is reported once, with its outcome and duration', async (t) => {
  const calls: CallRecord[] = []
  const tasks: TaskFinished[] = []
  const client = await VimClient.connect({
    url: sim.url,
    username: sim.username,
    password: sim.password,
    insecure: true,
    onCall: (call) => calls.push(call),
    tasks: { onTaskFinished: (task) => tasks.push(task) },
  })
  t.teardown(() => client.close())
  t.equal(calls.length, client.callCount, 'one report per call sent, login included')
  t.ok(calls.every((c) => c.outcome === 'ok' && c.durationMs >= 0))

  calls.length = 0
  await t.rejects(client.destroy({ type: 'VirtualMachine', value: 'vm-does-not-exist' }))
  t.same(calls.map((c) => [c.method, c.outcome]), [['Destroy_Task', 'ManagedObjectNotFound']], 'a fault: its type')

  const vm = await client.findByInventoryPath('DC0/vm/Tmpl Capture 1.0')
  t.ok(vm, 'the seed\'s parent')
  const task = await client.powerOnVM(vm!)
  await client.tasks.watch(task).catch(() => undefined)
  t.equal(tasks.length, 1, 'the task reported once')
  t.match(tasks[0], { descriptionId: /powerOn/, state: /success|error/ })
  t.ok(tasks[0]!.durationMs >= 0)
  await client.tasks.watch(task).catch(() => undefined)
  t.equal(tasks.length, 1, 'watching it again reports nothing more')
})

t.test('a connection failure is `connection`; an observer that throws changes nothing', async (t) => {
  const calls: CallRecord[] = []
  const transport = new SoapTransport({ url: `http://127.0.0.1:${await freePort()}/sdk`, onCall: (call) => calls.push(call) })
  t.teardown(() => transport.close())
  await t.rejects(transport.invoke('CurrentTime', { _this: { type: 'ServiceInstance', value: 'ServiceInstance' } }), { code: 'VIM_CONNECTION_ERROR' })
  t.same(calls.map((c) => c.outcome), ['connection'])

  const throwing = new SoapTransport({ url: sim.url, insecure: true, onCall: () => { throw new Error('observer broke') } })
  t.teardown(() => throwing.close())
  const content = await throwing.invoke('RetrieveServiceContent', { _this: { type: 'ServiceInstance', value: 'ServiceInstance' } })
  t.ok(content, 'the call still answers')
})
