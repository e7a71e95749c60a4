/**
 * Ownership of the destroy and preparation jobs, against the lab simulator and a real PostgreSQL: a
 * dead worker's jobs (claimed, no lock held) are found by the reaper and handed back, while a live
 * worker's are left alone; the strip back then completes with every clone destroyed once and its
 * record kept; and a job (destroy, preparation, reconcile) run by two workers at once is done once,
 * the second stepping aside.
 */
import t from 'tap'
import { DriftRepository } from '../../src/db/repositories/drift.js'
import { PgListener } from '../../src/db/notifications.js'
import { CloneDestroyer, destroyOwnerLockId } from '../../src/modules/pools/destroy-clone-job.js'
import { OperationLimiter } from '../../src/jobs/operation-limiter.js'
import { isLockFree, ownershipLockId, withOwnership } from '../../src/jobs/ownership.js'
import { PREPARE_PARENT_QUEUE, ParentPreparer, type PrepareParentData } from '../../src/modules/parents/prepare-parent-job.js'
import { QUEUES, type DestroyCloneData } from '../../src/jobs/queues.js'
import { JobReaper } from '../../src/jobs/reaper.js'
import { PoolRepairer, RECONCILE_POOL_QUEUE, type ReconcilePoolData } from '../../src/modules/pools/reconcile-pool-job.js'
import { VimClient } from '../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'

let service: TestService
let vc: VimClient
/** The destroyers made here take their slots from a limiter of their own, as the service's do. */
let listener: PgListener
let limiter: OperationLimiter

t.before(async () => {
  // Delays like a real vCenter's, shortened: long enough for two workers' runs to overlap.
  service = await startTestService({
    simulator: { delays: { CloneVM_Task: 100, PowerOffVM_Task: 50, Destroy_Task: 100, CreateSnapshot_Task: 200 } },
  })
  vc = await connectToSimulator(service.sim)
  listener = new PgListener(service.db.url)
  limiter = new OperationLimiter(service.db.url, 4, listener)
  await limiter.start()
})
t.teardown(async () => {
  await limiter?.close()
  await listener?.close()
  await vc?.close()
  await service?.stop()
})

function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

async function createPool(name: string, prefix: string, size: number) {
  const res = await call('POST', '/v1/pools', { name, parent: PARENT, prefix, startNumber: 1, size })
  if (res.statusCode !== 202) throw new Error(res.body)
  const done = await waitForDeployment(service, res.json().deploymentId)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
}

/** Names of the VMs in vCenter starting with `prefix`, one entry per VM. */
async function vmNames(prefix: string): Promise<string[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  return all.map((o) => String(o.props.name)).filter((n) => n.startsWith(prefix)).sort()
}

/** Each record of the pool's clones: its status and how many times a destroy was recorded on it. */
async function records(pool: string): Promise<{ name: string; status: string; destroyed: number }[]> {
  const { rows } = await service.app.database.pool.query(
    `SELECT c.name, c.status,
            (SELECT count(*)::int FROM clone_steps s WHERE s.clone_id = c.id AND s.step = 'destroyed') AS destroyed
       FROM clones c JOIN deployments d ON d.id = c.deployment_id
      WHERE d.pool_name = $1 ORDER BY c.number`,
    [pool],
  )
  return rows
}

async function jobStates(queue: string, ids: string[]): Promise<string[]> {
  const { rows } = await service.app.database.pool.query<{ state: string }>(
    'SELECT state FROM pgboss.job WHERE name = $1 AND id = ANY($2::uuid[]) ORDER BY id',
    [queue, ids],
  )
  return rows.map((r) => r.state)
}

const destroyer = () =>
  new CloneDestroyer(
    service.app.repositories.cloneSteps,
    service.app.poolRepository,
    service.app.vcenter,
    service.app.log,
    service.app.jobOwnership,
    limiter,
    service.app.config.limits,
  )

const reaper = () => new JobReaper(service.app.database.pool, service.app.boss, service.app.log, { minAgeSeconds: 0 })

t.test('a lock is seen held while a worker holds it, whatever its sign, and free after', async (t) => {
  const db = service.app.database.pool
  const ids = ['-9223372036854775808', '-1', '0', '1', '4294967296', '9223372036854775807', ownershipLockId('q', 'k')]
  for (const id of ids) {
    t.ok(await isLockFree(db, id), `${id} free`)
    const held = await withOwnership(service.app.jobOwnership, id, async () => ({
      free: await isLockFree(db, id),
      // The probe does not take the lock: another worker is still turned away.
      second: await withOwnership(service.app.jobOwnership, id, async () => 'ran'),
    }))
    t.same(held, { owned: true, value: { free: false, second: { owned: false } } }, `${id} held`)
    t.ok(await isLockFree(db, id), `${id} free again`)
  }
})

t.test('a strip back whose worker died is handed back by the reaper and completes, each clone destroyed once', async (t) => {
  await createPool('reaped', 'Reaped', 3)
  // This process's destroy workers stop: the jobs are claimed by a worker that then dies.
  await service.app.boss.offWork(QUEUES.destroyClone)
  await service.sim.resetStats()
  const res = await call('DELETE', '/v1/pools/reaped')
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().deploymentId

  const claimed = await service.app.boss.fetch<DestroyCloneData>(QUEUES.destroyClone, { batchSize: 10 })
  t.equal(claimed.length, 3, 'one destroy job per clone, claimed')
  const ids = claimed.map((j) => j.id)
  t.same(await jobStates(QUEUES.destroyClone, ids), ['active', 'active', 'active'])

  // While one of them still has a live worker (its lock held), only the other two are handed back.
  const live = await withOwnership(service.app.jobOwnership, destroyOwnerLockId(claimed[0]!.data), async () => reaper().sweep())
  t.same(live, { owned: true, value: 2 }, 'the two without a worker handed back, the live one left alone')
  t.equal(await reaper().sweep(), 1, 'the third once its worker is gone')
  t.equal(await reaper().sweep(), 0, 'nothing handed back twice')
  t.same(await jobStates(QUEUES.destroyClone, ids), ['retry', 'retry', 'retry'], 'to be retried')
  t.same(await vmNames('Reaped'), ['Reaped01', 'Reaped02', 'Reaped03'], 'nothing destroyed yet')

  // A worker again: it takes the retries and finishes the strip.
  const worker = destroyer()
  await service.app.boss.work<DestroyCloneData>(
    QUEUES.destroyClone,
    { batchSize: 1, pollingIntervalSeconds: 0.5, includeMetadata: true },
    async ([job]) => {
      if (job) await worker.run(job.data.cloneId, job.data.deploymentId, { lastAttempt: job.retryCount >= job.retryLimit })
    },
  )
  const done = await waitForDeployment(service, id, 60_000)
  await service.app.boss.offWork(QUEUES.destroyClone)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.same(await vmNames('Reaped'), [], 'every clone gone from vCenter')
  t.equal((await service.sim.stats()).methods.Destroy_Task?.count, 3, 'each destroyed once')
  t.same(
    await records('reaped'),
    ['Reaped01', 'Reaped02', 'Reaped03'].map((name) => ({ name, status: 'destroyed', destroyed: 1 })),
    'every record kept, marked destroyed, with one destroy step',
  )
  t.same(await jobStates(QUEUES.destroyClone, ids), ['completed', 'completed', 'completed'])
})

t.test('a destroy job run by two workers at once destroys its clone once', async (t) => {
  await createPool('twice', 'Twice', 2)
  await service.sim.resetStats()
  const res = await call('DELETE', '/v1/pools/twice')
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().deploymentId
  const claimed = await service.app.boss.fetch<DestroyCloneData>(QUEUES.destroyClone, { batchSize: 10 })
  t.equal(claimed.length, 2)

  // Each job delivered to two workers at the same moment (e.g. an expired job retried while its first
  // worker still runs): one destroys the clone, the other steps aside.
  const [first, second] = [destroyer(), destroyer()]
  for (const job of claimed) {
    const ran = await Promise.all([first, second].map((w) => w.run(job.data.cloneId, job.data.deploymentId, { lastAttempt: false })))
    t.same(ran.sort(), [false, true], 'exactly one of the two ran it')
  }
  // Run once more after it is all done: nothing to do.
  for (const job of claimed) t.equal(await first.run(job.data.cloneId, job.data.deploymentId, { lastAttempt: false }), true)
  await service.app.boss.complete(QUEUES.destroyClone, claimed.map((j) => j.id))

  const done = await waitForDeployment(service, id, 10_000)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  const stats = await service.sim.stats()
  t.equal(stats.methods.Destroy_Task?.count, 2, 'each clone destroyed once')
  t.equal(stats.methods.PowerOffVM_Task?.count, 2, 'each clone powered off once')
  t.same(await vmNames('Twice'), [])
  t.same(
    await records('twice'),
    ['Twice01', 'Twice02'].map((name) => ({ name, status: 'destroyed', destroyed: 1 })),
  )
})

/** The snapshots of a VM named so, by name. */
async function snapshotNames(vmName: string): Promise<string[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'snapshot'])
  const info = all.find((o) => o.props.name === vmName)?.props.snapshot as { rootSnapshotList?: unknown } | undefined
  const names: string[] = []
  const walk = (list: unknown) => {
    for (const node of ([] as any[]).concat(list ?? [])) {
      names.push(node.name)
      walk(node.childSnapshotList)
    }
  }
  walk(info?.rootSnapshotList)
  return names
}

t.test('a preparation whose worker died is handed back; run by two workers at once, it takes one snapshot', async (t) => {
  await service.app.boss.offWork(PREPARE_PARENT_QUEUE)
  await service.sim.resetStats()
  const res = await call('POST', `/v1/parents/${encodeURIComponent(PACKAGING)}/prepare`, { snapshotName: 'Packaging reaped' })
  t.equal(res.statusCode, 202, res.body)
  const preparationId = res.json().id

  const claimed = await service.app.boss.fetch<PrepareParentData>(PREPARE_PARENT_QUEUE, { batchSize: 10 })
  t.same(claimed.map((j) => j.data.preparationId), [preparationId], 'claimed by a worker that then dies')
  t.equal(await reaper().sweep(), 1, 'handed back')
  t.same(await jobStates(PREPARE_PARENT_QUEUE, [claimed[0]!.id]), ['retry'])

  // The retry, delivered to two workers at the same moment.
  const preparer = () =>
    new ParentPreparer(
      service.app.parentRepository,
      service.app.poolRepository,
      service.app.vcenter,
      service.app.pools,
      service.app.log,
      service.app.jobOwnership,
    )
  const ran = await Promise.all([preparer(), preparer()].map((p) => p.run(preparationId, { lastAttempt: false })))
  t.same(ran.sort(), [false, true], 'exactly one of the two ran it')

  const done = (await call('GET', res.headers.location as string, undefined, 'deployments:read')).json()
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.same(done.steps.map((s: { step: string }) => s.step), ['power_off', 'snapshot'], 'each step recorded once')
  t.equal((await service.sim.stats()).methods.CreateSnapshot_Task?.count, 1, 'one snapshot taken')
  t.equal((await snapshotNames(PACKAGING)).filter((n) => n === 'Packaging reaped').length, 1, 'one snapshot of that name')
  t.match(done.snapshot.moref, /^snapshot-/)
})

t.test('a reconcile whose worker died is handed back; run by two workers at once, it powers the clone on once', async (t) => {
  await createPool('repaired', 'Repaired', 1)
  const clone = (await call('GET', '/v1/pools/repaired', undefined, 'deployments:read')).json().clones[0]
  await vc.tasks.watch(await vc.powerOffVM({ type: 'VirtualMachine', value: clone.moref }))
  await service.app.boss.offWork(RECONCILE_POOL_QUEUE)
  await service.sim.resetStats()
  const res = await call('POST', '/v1/pools/repaired/reconcile')
  t.equal(res.statusCode, 202, res.body)
  const [deploymentId] = res.json().deploymentIds

  const claimed = await service.app.boss.fetch<ReconcilePoolData>(RECONCILE_POOL_QUEUE, { batchSize: 10 })
  t.same(claimed.map((j) => j.data.deploymentId), [deploymentId], 'claimed by a worker that then dies')
  t.equal(await reaper().sweep(), 1, 'handed back')

  const drift = new DriftRepository(service.app.database)
  const repairer = () =>
    new PoolRepairer(service.app.repositories.cloneSteps, drift, service.app.vcenter, service.app.log, service.app.jobOwnership)
  const ran = await Promise.all([repairer(), repairer()].map((r) => r.run(claimed[0]!.data, { lastAttempt: false })))
  t.same(ran.sort(), [false, true], 'exactly one of the two ran it')
  const done = await waitForDeployment(service, deploymentId, 10_000)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal((await service.sim.stats()).methods.PowerOnVM_Task?.count, 1, 'powered on once')
})
