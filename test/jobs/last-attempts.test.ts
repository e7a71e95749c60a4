/**
 * How every job gives up, for real: each job is run against the lab, behind the fault proxy, with
 * the fault that makes it fail for good (a vCenter task refused, the VM gone, vCenter unreachable
 * through every attempt), with JOB_RETRY_LIMIT=1 and JOB_RETRY_DELAY_SECONDS=0 so that its last
 * attempt comes at once. Each test checks the code recorded, what the clone, the deployment, the
 * preparation and the pool then show through the API, and what a later reconcile (or repeat) does.
 *
 * Requests are accepted by an API-only process; each test starts the workers once its fault is set
 * up, as a second process on the same database would.
 */
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import type { MoRef, VimClient } from '../../src/vim25/index.js'
import type { FaultProxy } from '../helpers/fault-proxy.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const VERIFICATION = 'Tmpl Verification 1.0'
const enc = encodeURIComponent

let api: TestService
let proxy: FaultProxy
let vc: VimClient

t.before(async () => {
  api = await startTestService({ runWorkers: false, faultProxy: true, env: { JOB_RETRY_LIMIT: '1', JOB_RETRY_DELAY_SECONDS: '0' } })
  proxy = api.proxy!
  vc = await connectToSimulator(api.sim)
})
t.teardown(async () => {
  await vc?.close()
  await api?.stop()
})

/** A second process running every queue's workers; closed when `t` ends (or earlier by the test). */
async function startWorkers(t: Test): Promise<FastifyInstance> {
  const worker = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  await worker.ready()
  let closed = false
  const close = async () => {
    if (!closed) await worker.close()
    closed = true
  }
  t.teardown(close)
  return Object.assign(worker, { stopWorkers: close })
}

function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return api.app.inject({ method, url, headers: api.auth('deployments:read deployments:write parents:write'), ...(payload ? { payload } : {}) })
}

const pool = async (name: string) => (await call('GET', `/v1/pools/${name}`)).json()
const vmRef = (value: string): MoRef => ({ type: 'VirtualMachine', value })
/** The VM a SOAP call is made on (its `_this`). */
const target = (body: string) => /<_this[^>]*>([^<]+)<\/_this>/.exec(body)![1]!

async function vmsNamed(name: string): Promise<{ moref: string; powerState: string }[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState'])
  return all.filter((o) => o.props.name === name).map((o) => ({ moref: o.obj.value, powerState: String(o.props['runtime.powerState']) }))
}

async function waitForPreparation(location: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const body = (await call('GET', location)).json()
    if (body.status === 'succeeded' || body.status === 'failed') return body
    if (Date.now() > deadline) throw new Error(`preparation still ${body.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * The attempts pg-boss made of the job with this singleton key, and its state once finished: the
 * handler records the outcome before pg-boss marks its job, so the job may still be active a moment.
 */
async function jobOf(queue: string, key: string, timeoutMs = 10_000): Promise<{ state: string; attempts: number }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await api.app.database.pool.query(
      // pg-boss 11 keeps finished jobs in its job table (no archive) until they are deleted.
      `SELECT state, retry_count FROM pgboss.job WHERE name = $1 AND singleton_key = $2`,
      [queue, key],
    )
    if (rows.length !== 1) throw new Error(`${rows.length} jobs ${queue}/${key}`)
    const job = { state: rows[0].state, attempts: rows[0].retry_count + 1 }
    if (!['created', 'retry', 'active'].includes(job.state) || Date.now() > deadline) return job
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Creates a pool and waits until it is deployed, with workers of its own that stop afterwards. */
async function readyPool(t: Test, body: { name: string; parent: string; prefix: string; size: number }) {
  const worker = await startWorkers(t)
  const created = await call('POST', '/v1/pools', { startNumber: 1, ...body })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(api, created.json().deploymentId)).status, 'succeeded')
  await (worker as unknown as { stopWorkers(): Promise<void> }).stopWorkers()
  return (await pool(body.name)).clones as { name: string; moref: string; instanceUuid: string }[]
}

t.test('provisioning: a task vCenter refuses fails the clone (VCENTER_FAULT with its fault type); its VM is removed, and a later reconcile deploys the number again', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'faulty', parent: CAPTURE, prefix: 'Faulty', startNumber: 1, size: 2 })
  t.equal(created.statusCode, 202, created.body)
  // Someone powers a clone on just before the service does: its PowerOnVM_Task fails (InvalidPowerState).
  let victim = ''
  proxy.interceptOnce('PowerOnVM_Task', async (body) => {
    victim = target(body)
    await vc.tasks.watch(await vc.powerOnVM(vmRef(victim)))
  })
  await startWorkers(t)
  const done = await waitForDeployment(api, created.json().deploymentId)

  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'CLONES_FAILED')
  t.equal(done.progress.failed, 1)
  const failed = done.clones.filter((c: { status: string }) => c.status === 'failed')
  t.equal(failed.length, 1, 'one clone failed, alone')
  t.match(failed[0].error, { code: 'VCENTER_FAULT', faultType: 'InvalidPowerState' })
  t.equal(failed[0].moref, victim, 'the clone whose power-on was refused')
  t.same(await vmsNamed(failed[0].name), [], "the failed clone's VM is destroyed: its name is free")

  const detail = await pool('faulty')
  t.same(detail.clones.map((c: { status: string }) => c.status), ['ready'], 'the pool holds its one live clone')
  const drift = await call('POST', '/v1/pools/faulty/drift')
  t.same(drift.json().drift.findings, [{ kind: 'short', expected: 2, actual: 1 }])

  const reconcile = await call('POST', '/v1/pools/faulty/reconcile')
  t.equal(reconcile.statusCode, 202, reconcile.body)
  t.equal(reconcile.json().repairs.add, 1)
  t.equal((await waitForDeployment(api, reconcile.json().deploymentIds[0])).status, 'succeeded')
  t.same((await pool('faulty')).clones.map((c: { name: string }) => c.name), ['Faulty01', 'Faulty02'], 'full again')
})

t.test('provisioning: the VM made vanishes while the job is interrupted (CLONE_VANISHED); a later reconcile deploys it again', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'vanish', parent: CAPTURE, prefix: 'Vanish', startNumber: 1, size: 1 })
  t.equal(created.statusCode, 202, created.body)
  // The connection drops as the job customizes; meanwhile the VM it made is destroyed behind its back.
  let made = ''
  proxy.interceptOnce('CustomizeVM_Task', async (body) => {
    made = target(body)
    await vc.tasks.watch(await vc.destroy(vmRef(made)))
    return 'dropBefore' as const
  })
  await startWorkers(t)
  const done = await waitForDeployment(api, created.json().deploymentId)

  t.equal(done.status, 'failed')
  t.equal(done.clones[0].status, 'failed')
  t.equal(done.clones[0].error.code, 'CLONE_VANISHED')
  t.match(done.clones[0].error.message, made)
  t.same((await pool('vanish')).clones, [], 'no live clone')

  const reconcile = await call('POST', '/v1/pools/vanish/reconcile')
  t.equal(reconcile.statusCode, 202, reconcile.body)
  t.equal((await waitForDeployment(api, reconcile.json().deploymentIds[0])).status, 'succeeded')
  const [again] = (await pool('vanish')).clones
  t.equal(again.name, 'Vanish01')
  t.equal((await vmsNamed('Vanish01')).length, 1)
})

t.test('destroying: a Destroy_Task refused on every attempt records DESTROY_FAILED with the fault type', async (t) => {
  await readyPool(t, { name: 'stuck', parent: CAPTURE, prefix: 'Stuck', size: 2 })
  const shrink = await call('PATCH', '/v1/pools/stuck', { size: 1 })
  t.equal(shrink.statusCode, 202, shrink.body)
  // Someone powers the VM on again just before each destroy: vCenter refuses it (InvalidPowerState).
  let refused = 0
  const stop = proxy.intercept('Destroy_Task', async (body) => {
    refused++
    await vc.tasks.watch(await vc.powerOnVM(vmRef(target(body))))
  })
  t.teardown(stop)
  await startWorkers(t)
  const done = await waitForDeployment(api, shrink.json().deploymentId)
  stop()

  t.equal(done.status, 'failed')
  t.equal(refused, 2, 'both attempts tried')
  const [gone] = done.clones
  t.equal(gone.status, 'failed')
  t.match(gone.error, { code: 'DESTROY_FAILED', faultType: 'InvalidPowerState' })
  t.same(await jobOf('clone-destroy', `${(await cloneId(gone.name))}:${done.id}`), { state: 'completed', attempts: 2 })
  t.same(await vmsNamed(gone.name), [{ moref: gone.moref, powerState: 'poweredOn' }], 'the VM is still there')
  const detail = await pool('stuck')
  t.equal(detail.size, 1)
  t.same(detail.clones.map((c: { name: string }) => c.name), ['Stuck01'], 'the failed clone is no longer one of the pool')
  const reconcile = await call('POST', '/v1/pools/stuck/reconcile')
  t.equal(reconcile.statusCode, 200, reconcile.body)
  t.same(reconcile.json().deploymentIds, [], 'nothing to repair: the pool is its size')
})

async function cloneId(name: string): Promise<string> {
  const { rows } = await api.app.database.pool.query(`SELECT id FROM clones WHERE name = $1 ORDER BY created_at DESC LIMIT 1`, [name])
  return rows[0].id
}

t.test('destroying while vCenter is unreachable through every attempt: DESTROY_FAILED, not "destroying" forever', async (t) => {
  const [only] = await readyPool(t, { name: 'dark-strip', parent: CAPTURE, prefix: 'DarkStrip', size: 1 })
  const strip = await call('DELETE', '/v1/pools/dark-strip')
  t.equal(strip.statusCode, 202, strip.body)
  proxy.goDown()
  t.teardown(() => proxy.comeBack())
  await startWorkers(t)
  const done = await waitForDeployment(api, strip.json().deploymentIds[0])
  proxy.comeBack()

  t.equal(done.status, 'failed')
  t.equal(done.clones[0].status, 'failed')
  t.equal(done.clones[0].error.code, 'DESTROY_FAILED')
  t.match(done.clones[0].error.message, /vCenter unreachable/)
  t.same(await jobOf('clone-destroy', `${await cloneId(only!.name)}:${done.id}`), { state: 'completed', attempts: 2 })
  t.equal((await vmsNamed(only!.name)).length, 1, 'the VM is left as it was')
})

t.test('reconcile while vCenter is unreachable through every attempt: RECONCILE_FAILED; a later reconcile repairs', async (t) => {
  const [only] = await readyPool(t, { name: 'dark-fix', parent: CAPTURE, prefix: 'DarkFix', size: 1 })
  await vc.tasks.watch(await vc.powerOffVM(vmRef(only!.moref)))
  const reconcile = await call('POST', '/v1/pools/dark-fix/reconcile')
  t.equal(reconcile.statusCode, 202, reconcile.body)
  t.same(reconcile.json().repairs.powerOn, ['DarkFix01'])
  proxy.goDown()
  t.teardown(() => proxy.comeBack())
  await startWorkers(t)
  const done = await waitForDeployment(api, reconcile.json().deploymentIds[0])
  proxy.comeBack()

  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'RECONCILE_FAILED')
  t.match(done.error.message, /vCenter unreachable/)
  t.same(await jobOf('pool-reconcile', done.id), { state: 'completed', attempts: 2 })
  t.same((await pool('dark-fix')).clones.map((c: { status: string }) => c.status), ['ready'], 'the clone is still the pool\'s')

  const again = await call('POST', '/v1/pools/dark-fix/reconcile')
  t.equal(again.statusCode, 202, again.body)
  t.equal((await waitForDeployment(api, again.json().deploymentIds[0])).status, 'succeeded')
  t.same(await vmsNamed('DarkFix01'), [{ moref: only!.moref, powerState: 'poweredOn' }])
})

t.test('reconcile whose repair vCenter refuses (the VM destroyed meanwhile): REPAIRS_FAILED; a later reconcile deploys it again', async (t) => {
  const [only] = await readyPool(t, { name: 'flicker', parent: CAPTURE, prefix: 'Flicker', size: 1 })
  await vc.tasks.watch(await vc.powerOffVM(vmRef(only!.moref)))
  const reconcile = await call('POST', '/v1/pools/flicker/reconcile')
  t.equal(reconcile.statusCode, 202, reconcile.body)
  // The VM is destroyed between the job's read and its power-on: vCenter answers ManagedObjectNotFound.
  proxy.interceptOnce('PowerOnVM_Task', async (body) => {
    await vc.tasks.watch(await vc.destroy(vmRef(target(body))))
  })
  await startWorkers(t)
  const done = await waitForDeployment(api, reconcile.json().deploymentIds[0])

  t.equal(done.status, 'failed')
  t.match(done.error, { code: 'REPAIRS_FAILED', message: /1 of 1 repairs failed/ })
  const { rows } = await api.app.database.pool.query(
    `SELECT s.step, s.outcome, s.error->>'code' AS code, s.error->>'faultType' AS "faultType" FROM clone_steps s WHERE s.clone_id = $1 ORDER BY s.id DESC LIMIT 1`,
    [await cloneId('Flicker01')],
  )
  t.same(rows, [{ step: 'powering_on', outcome: 'failed', code: 'VCENTER_REFUSED', faultType: 'ManagedObjectNotFound' }], 'the clone says why')

  const again = await call('POST', '/v1/pools/flicker/reconcile')
  t.equal(again.statusCode, 202, again.body)
  t.same(again.json().repairs.recreate, [1], 'found missing: deployed again')
  t.equal((await waitForDeployment(api, again.json().deploymentIds[0])).status, 'succeeded')
  const [renewed] = (await pool('flicker')).clones
  t.not(renewed.moref, only!.moref)
})

t.test('preparing while vCenter is unreachable through every attempt: PREPARATION_FAILED; the repeated request succeeds', async (t) => {
  const res = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, { snapshotName: 'Verification in the dark' })
  t.equal(res.statusCode, 202, res.body)
  proxy.goDown()
  t.teardown(() => proxy.comeBack())
  await startWorkers(t)
  const done = await waitForPreparation(res.headers.location as string)
  proxy.comeBack()

  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'PREPARATION_FAILED')
  t.match(done.error.message, /vCenter unreachable/)
  t.same(await jobOf('parent-prepare', res.json().id), { state: 'completed', attempts: 2 })

  const again = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, { snapshotName: 'Verification in the dark' })
  t.equal(again.statusCode, 202, again.body)
  t.not(again.json().id, res.json().id, 'a new preparation')
  const redone = await waitForPreparation(again.headers.location as string)
  t.equal(redone.status, 'succeeded', JSON.stringify(redone.error))
})

t.test('preparing with recompose while the pool stays busy through every attempt: RECOMPOSE_FAILED; the pool is recomposed later', async (t) => {
  await readyPool(t, { name: 'packed', parent: PACKAGING, prefix: 'Packed', size: 1 })
  // The pool's scale up is held at its CloneVM_Task: the pool is busy until it is let go.
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  t.teardown(() => release())
  proxy.interceptOnce('CloneVM_Task', () => held)
  await startWorkers(t)
  const grow = await call('PATCH', '/v1/pools/packed', { size: 2 })
  t.equal(grow.statusCode, 202, grow.body)

  const res = await call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, { snapshotName: 'Packaging recomposed', recompose: true })
  t.equal(res.statusCode, 202, res.body)
  const done = await waitForPreparation(res.headers.location as string)
  release()

  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'RECOMPOSE_FAILED')
  t.match(done.error.message, /packed/)
  t.match(done.steps.at(-1), { step: 'recompose', outcome: 'failed', pool: 'packed', error: { code: 'POOL_BUSY' } })
  t.ok(done.snapshot?.moref, 'the snapshot was taken')
  t.same(await jobOf('parent-prepare', res.json().id), { state: 'completed', attempts: 2 })
  t.equal((await waitForDeployment(api, grow.json().deploymentId)).status, 'succeeded', 'the scale up ends once let go')

  const recompose = await call('POST', '/v1/pools/packed/recompose', { snapshot: 'Packaging recomposed' })
  t.equal(recompose.statusCode, 202, recompose.body)
  for (const id of recompose.json().deploymentIds) t.equal((await waitForDeployment(api, id)).status, 'succeeded')
  const detail = await pool('packed')
  t.equal(detail.clones.length, 2)
  t.same(detail.snapshot, { name: 'Packaging recomposed', moref: done.snapshot.moref }, 'onto the snapshot the preparation took')
})

t.test('a rebuild whose replaced clone another deployment claimed: NOT_REPLACEABLE, and the clone is left alone', async (t) => {
  const [old] = await readyPool(t, { name: 'claimed', parent: CAPTURE, prefix: 'Claimed', size: 1 })
  const rebuild = await call('POST', '/v1/pools/claimed/refresh')
  t.equal(rebuild.statusCode, 202, rebuild.body)
  // No request reaches this (pool changes are serialized: POOL_BUSY); the job's guard is checked by
  // handing the claim to the pool's first deployment, as a concurrent change would have.
  const first = (await pool('claimed')).deployments.at(-1).id
  const claimed = await api.app.database.pool.query(`UPDATE clones SET destroy_deployment_id = $1 WHERE instance_uuid = $2`, [first, old!.instanceUuid])
  t.equal(claimed.rowCount, 1)
  await startWorkers(t)
  const done = await waitForDeployment(api, rebuild.json().deploymentIds[0])

  t.equal(done.status, 'failed')
  t.equal(done.clones[0].status, 'failed')
  t.match(done.clones[0].error, { code: 'NOT_REPLACEABLE', message: /Claimed01 is not claimed by this deployment/ })
  t.same(await vmsNamed('Claimed01'), [{ moref: old!.moref, powerState: 'poweredOn' }], 'the clone it would replace is untouched')
})
