/**
 * Pool reconcile rebuilds the clones whose guest customization failed or timed out and whose VM is
 * still in vCenter (the provisioner destroys a failed clone's VM when it can; here vCenter refuses
 * that destroy, as a busy or flaky vCenter would, so the VM keeps the name). Reconcile destroys the
 * recorded VM (powered off first), keeps the failed record and makes the clone again under its name
 * and number; a VM of that name that is not the recorded one is never touched; two reconciles at
 * once rebuild each clone once. Against the lab and a real PostgreSQL.
 */
import t, { type Test } from 'tap'
import type { FaultProxy } from '../../helpers/fault-proxy.js'
import { type MoRef, type VimClient } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const FAILS = 'Tmpl Verification 1.0'
const HANGS = 'Tmpl Kiosk 1.0'

let service: TestService
let proxy: FaultProxy
let vc: VimClient

t.before(async () => {
  service = await startTestService({
    faultProxy: true,
    simulator: { guestMs: 300, guestFail: [FAILS], guestHang: [HANGS] },
    // The shortest limit the configuration allows: a hanging guest times out after a minute.
    env: { CUSTOMIZATION_TIMEOUT_MINUTES: '1', JOB_RETRY_LIMIT: '1', JOB_RETRY_DELAY_SECONDS: '0' },
  })
  proxy = service.proxy!
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

function call(method: 'GET' | 'POST', url: string, payload?: object) {
  return service.app.inject({ method, url, headers: service.auth('deployments:read deployments:write'), ...(payload ? { payload } : {}) })
}
const pool = async (name: string) => (await call('GET', `/v1/pools/${name}`)).json()
const target = (body: string) => /<_this[^>]*>([^<]+)<\/_this>/.exec(body)![1]!

async function vmsNamed(prefix: string): Promise<{ moref: string; name: string; powerState: string }[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState'])
  return all
    .filter((o) => String(o.props.name).startsWith(prefix))
    .map((o) => ({ moref: o.obj.value, name: String(o.props.name), powerState: String(o.props['runtime.powerState']) }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * A pool whose clones fail in the guest step and keep their VMs: while it deploys, each Destroy_Task
 * is refused (the VM is powered on again just before it: InvalidPowerState), so the provisioner's
 * clean-up of the failed VMs fails. Answers the pool's first deployment.
 */
async function failedPool(t: Test, body: object, code: string, timeoutMs?: number) {
  const stop = proxy.intercept('Destroy_Task', async (soap) => {
    await vc.tasks.watch(await vc.powerOnVM({ type: 'VirtualMachine', value: target(soap) } as MoRef))
  })
  t.teardown(stop)
  const created = await call('POST', '/v1/pools', body)
  t.equal(created.statusCode, 202, created.body)
  const done = await waitForDeployment(service, created.json().deploymentId, timeoutMs)
  stop()
  t.equal(done.status, 'failed')
  for (const clone of done.clones) t.equal(clone.error?.code, code, `${clone.name} failed in the guest step`)
  return done
}

async function reconciled(t: Test, name: string) {
  const res = await call('POST', `/v1/pools/${name}/reconcile`)
  t.equal(res.statusCode, 202, res.body)
  for (const id of res.json().deploymentIds) t.equal((await waitForDeployment(service, id)).status, 'succeeded', `deployment ${id}`)
  return res.json()
}

t.test('clones failed in the guest step keep their VMs; reconcile destroys them and rebuilds the clones under their names', async (t) => {
  const failed = await failedPool(t, { name: 'sysprep', parent: FAILS, prefix: 'Sysprep', startNumber: 1, size: 3 }, 'GUEST_CUSTOMIZATION_FAILED')
  const left = await vmsNamed('Sysprep')
  t.same(
    left.map((v) => [v.name, v.moref, v.powerState]),
    failed.clones.map((c: { name: string; moref: string }) => [c.name, c.moref, 'poweredOn']),
    'vCenter: the failed VMs are still there, powered on',
  )

  const checked = await call('POST', '/v1/pools/sysprep/drift')
  t.same(
    checked.json().drift.findings.map((f: { kind: string; clone?: string }) => `${f.kind}:${f.clone ?? ''}`),
    ['guest_failed:Sysprep01', 'guest_failed:Sysprep02', 'guest_failed:Sysprep03', 'short:'],
    'the check finds them',
  )

  await service.sim.setGuestOutcome(FAILS, 'succeed')
  const outcome = await reconciled(t, 'sysprep')
  t.same(outcome.repairs, { recreate: [], powerOn: [], rename: [], rebuild: [1, 2, 3], add: 0 }, 'the answer says which clones it rebuilds')
  t.equal(outcome.deploymentIds.length, 1)
  const rebuild = await waitForDeployment(service, outcome.deploymentIds[0])
  t.equal(rebuild.kind, 'reconcile')

  const after = await pool('sysprep')
  t.same(
    after.clones.map((c: { name: string; number: number; status: string }) => [c.name, c.number, c.status]),
    [['Sysprep01', 1, 'ready'], ['Sysprep02', 2, 'ready'], ['Sysprep03', 3, 'ready']],
    'the pool is at its size, same names and numbers',
  )
  const now = await vmsNamed('Sysprep')
  t.same(now.map((v) => v.moref), after.clones.map((c: { moref: string }) => c.moref), 'vCenter: only the new VMs')
  for (const old of left) t.notOk(now.some((v) => v.moref === old.moref), `the failed VM ${old.moref} is destroyed`)

  // The failed records are kept, with their error, in the pool's history.
  t.ok(after.deployments.some((d: { id: string }) => d.id === failed.id), 'the failed deployment is still listed')
  const history = (await call('GET', `/v1/deployments/${failed.id}`)).json()
  t.same(
    history.clones.map((c: { name: string; status: string; error: { code: string } }) => [c.name, c.status, c.error.code]),
    failed.clones.map((c: { name: string }) => [c.name, 'failed', 'GUEST_CUSTOMIZATION_FAILED']),
  )
  const { rows } = await service.app.database.pool.query(
    `SELECT o.name, o.destroyed_at IS NOT NULL AS gone, o.destroy_deployment_id = $1 AS claimed, n.status AS replacement
       FROM clones o JOIN clones n ON n.replaces_clone_id = o.id WHERE o.deployment_id = $2 ORDER BY o.number`,
    [rebuild.id, failed.id],
  )
  t.same(rows, ['Sysprep01', 'Sysprep02', 'Sysprep03'].map((name) => ({ name, gone: true, claimed: true, replacement: 'ready' })), 'each marked replaced')

  const again = await call('POST', '/v1/pools/sysprep/reconcile')
  t.equal(again.statusCode, 200, again.body)
  t.same(again.json().deploymentIds, [], 'nothing left to rebuild')
})

t.test('a timed-out guest customization is rebuilt the same way', async (t) => {
  const failed = await failedPool(t, { name: 'hang', parent: HANGS, prefix: 'Hang', startNumber: 1, size: 2 }, 'GUEST_CUSTOMIZATION_TIMEOUT', 240_000)
  t.equal((await vmsNamed('Hang')).length, 2, 'the timed-out VMs are still there')
  await service.sim.setGuestOutcome(HANGS, 'succeed')
  const outcome = await reconciled(t, 'hang')
  t.same([outcome.repairs.rebuild, outcome.repairs.add], [[1, 2], 0])
  const after = await pool('hang')
  t.same(after.clones.map((c: { name: string; status: string }) => [c.name, c.status]), [['Hang01', 'ready'], ['Hang02', 'ready']])
  t.same((await vmsNamed('Hang')).map((v) => v.moref), after.clones.map((c: { moref: string }) => c.moref), 'vCenter: only the new VMs')
  const history = (await call('GET', `/v1/deployments/${failed.id}`)).json()
  t.same(history.clones.map((c: { status: string; error: { code: string } }) => [c.status, c.error.code]), [['failed', 'GUEST_CUSTOMIZATION_TIMEOUT'], ['failed', 'GUEST_CUSTOMIZATION_TIMEOUT']])
})

t.test('two reconciles at once rebuild each clone once', async (t) => {
  await service.sim.setGuestOutcome(FAILS, 'fail')
  await failedPool(t, { name: 'twice', parent: FAILS, prefix: 'Twice', startNumber: 1, size: 2 }, 'GUEST_CUSTOMIZATION_FAILED')
  await service.sim.setGuestOutcome(FAILS, 'succeed')
  const answers = await Promise.all([call('POST', '/v1/pools/twice/reconcile'), call('POST', '/v1/pools/twice/reconcile')])
  const accepted = answers.filter((r) => r.statusCode === 202)
  t.equal(accepted.length, 1, answers.map((r) => `${r.statusCode} ${r.body}`).join('\n'))
  const other = answers.find((r) => r.statusCode !== 202)!
  t.equal(other.statusCode, 409, other.body)
  t.equal(other.json().code, 'POOL_BUSY')
  for (const id of accepted[0]!.json().deploymentIds) t.equal((await waitForDeployment(service, id)).status, 'succeeded')
  const { rows } = await service.app.database.pool.query(
    `SELECT c.number, count(*)::int AS records FROM clones c JOIN deployments d ON d.id = c.deployment_id
      WHERE d.pool_name = 'twice' GROUP BY c.number ORDER BY c.number`,
  )
  t.same(rows, [{ number: 1, records: 2 }, { number: 2, records: 2 }], 'one failed record and one replacement per number')
  t.same((await pool('twice')).clones.map((c: { name: string; status: string }) => [c.name, c.status]), [['Twice01', 'ready'], ['Twice02', 'ready']])
  t.equal((await vmsNamed('Twice')).length, 2)
})

t.test('a VM of that name that is not the recorded one is never destroyed: NAME_CONFLICT', async (t) => {
  await service.sim.setGuestOutcome(FAILS, 'fail')
  const failed = await failedPool(t, { name: 'foreign', parent: FAILS, prefix: 'Foreign', startNumber: 1, size: 1 }, 'GUEST_CUSTOMIZATION_FAILED')
  await service.sim.setGuestOutcome(FAILS, 'succeed')
  // The VM holding the name is not the one recorded: its instance UUID is not the record's.
  const [ours] = failed.clones
  await service.app.database.pool.query(`UPDATE clones SET instance_uuid = gen_random_uuid() WHERE deployment_id = $1`, [failed.id])
  const refused = await call('POST', '/v1/pools/foreign/reconcile')
  t.equal(refused.statusCode, 409, refused.body)
  t.equal(refused.json().code, 'NAME_CONFLICT')
  t.same((await vmsNamed('Foreign01')).map((v) => v.moref), [ours.moref], 'the VM is left untouched')
})
