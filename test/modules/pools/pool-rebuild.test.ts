/**
 * Refresh and recompose end to end against the lab simulator and a real PostgreSQL: every VM replaced
 * under its name and number, at most maxUnavailable at once, old records kept as destroyed and linked
 * to their replacements; recompose onto a new snapshot and later scale ups from it; POOL_BUSY while a
 * rebuild runs; refusals that change nothing in vCenter; a VM that is not the recorded one left alone;
 * jobs of a dead worker handed back by the reaper; and a rebuild job that crashes part-way and is run
 * again (twice at once) neither duplicating nor losing a clone.
 */
import t from 'tap'
import { CloneProvisioner } from '../../../src/modules/deployments/provision-clone-job.js'
import { OperationLimiter } from '../../../src/jobs/operation-limiter.js'
import { PgListener } from '../../../src/db/notifications.js'
import { QUEUES } from '../../../src/jobs/queues.js'
import { JobReaper } from '../../../src/jobs/reaper.js'
import type { VcenterGateway } from '../../../src/vcenter/gateway.js'
import { VimClient, type MoRef } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'

let service: TestService
let vc: VimClient

t.before(async () => {
  // Delays like a real vCenter's, shortened: enough for operations of several clones to overlap.
  service = await startTestService({ simulator: { delays: { CloneVM_Task: 300, PowerOffVM_Task: 50, Destroy_Task: 100 } } })
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

async function getPool(name: string) {
  return (await call('GET', `/v1/pools/${encodeURIComponent(name)}`, undefined, 'deployments:read')).json()
}

/** Every VM in vCenter: name -> morefs (more than one would be a duplicate). */
async function vms(): Promise<Map<string, string[]>> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  const out = new Map<string, string[]>()
  for (const o of all) out.set(String(o.props.name), [...(out.get(String(o.props.name)) ?? []), o.obj.value])
  return out
}

async function createPool(name: string, prefix: string, size: number) {
  const res = await call('POST', '/v1/pools', { name, parent: PARENT, prefix, startNumber: 1, size })
  if (res.statusCode !== 202) throw new Error(res.body)
  const done = await waitForDeployment(service, res.json().deploymentId)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
  return getPool(name)
}

async function parentRef(): Promise<MoRef> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  return all.find((o) => o.props.name === PARENT)!.obj
}

interface Row {
  id: string
  name: string
  number: number
  status: string
  moref: string | null
  instance_uuid: string
  replaces_clone_id: string | null
  deployment_id: string
  destroy_deployment_id: string | null
  snapshot_name: string
}

/** Every record of the pool's clones, oldest first per number. */
async function records(pool: string): Promise<Row[]> {
  const { rows } = await service.app.database.pool.query<Row>(
    `SELECT c.id, c.name, c.number, c.status, c.moref, c.instance_uuid, c.replaces_clone_id, c.deployment_id,
            c.destroy_deployment_id, d.snapshot_name
       FROM clones c JOIN deployments d ON d.id = c.deployment_id
      WHERE d.pool_name = $1 ORDER BY c.number, c.created_at`,
    [pool],
  )
  return rows
}

/**
 * From now on, every status a clone takes is logged by a trigger, in order (a sequence taken as the
 * row changes): the test's own instrument on the real database, so that a rule over time is
 * checked on every change rather than on samples.
 */
async function recordTransitions(pool: string): Promise<{ id: string; number: number }[]> {
  await service.app.database.pool.query(`
    CREATE TABLE IF NOT EXISTS test_clone_transitions (seq bigserial PRIMARY KEY, clone_id uuid NOT NULL, number int NOT NULL, status text NOT NULL);
    TRUNCATE test_clone_transitions;
    CREATE OR REPLACE FUNCTION test_log_clone_status() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO test_clone_transitions (clone_id, number, status) VALUES (NEW.id, NEW.number, NEW.status);
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS test_log_clone_status ON clones;
    CREATE TRIGGER test_log_clone_status AFTER INSERT OR UPDATE OF status ON clones FOR EACH ROW EXECUTE FUNCTION test_log_clone_status();
  `)
  // What the replay starts from: the pool's ready clones once logging has begun (nothing changes them meanwhile).
  const { rows } = await service.app.database.pool.query(
    `SELECT c.id, c.number FROM clones c JOIN deployments d ON d.id = c.deployment_id WHERE d.pool_name = $1 AND c.status = 'ready'`,
    [pool],
  )
  return rows
}

/** Replays the logged changes of a pool's clones from its ready clones at the start: the fewest numbers with a ready clone after any change. */
async function fewestReadyNumbers(pool: string, start: { id: string; number: number }[]): Promise<{ fewestReady: number; changes: number }> {
  const { rows } = await service.app.database.pool.query(
    `SELECT l.clone_id, l.number, l.status FROM test_clone_transitions l
       JOIN clones c ON c.id = l.clone_id JOIN deployments d ON d.id = c.deployment_id
      WHERE d.pool_name = $1 ORDER BY l.seq`,
    [pool],
  )
  const status = new Map<string, { number: number; status: string }>(start.map((c) => [c.id, { number: c.number, status: 'ready' }]))
  const readyNumbers = () => new Set([...status.values()].filter((c) => c.status === 'ready').map((c) => c.number)).size
  let fewestReady = readyNumbers()
  for (const row of rows) {
    status.set(row.clone_id, { number: row.number, status: row.status })
    fewestReady = Math.min(fewestReady, readyNumbers())
  }
  return { fewestReady, changes: rows.length }
}

t.test('refresh replaces every VM under the same names and numbers, at most maxUnavailable at once', async (t) => {
  const before = await createPool('fresh', 'Fresh', 6)
  t.equal(before.snapshot.name, 'Base', 'the pool records the snapshot it was made from')
  const old = new Map<string, { moref: string; instanceUuid: string }>(before.clones.map((c: any) => [c.name, c]))

  await service.sim.resetStats()
  const readyAtStart = await recordTransitions('fresh')
  const res = await call('POST', '/v1/pools/fresh/refresh', { maxUnavailable: 2 })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().deploymentId
  t.equal(res.headers.location, `/v1/deployments/${id}`)

  // Serialized: every other change of the pool is refused while the refresh runs.
  for (const [method, url, body] of [
    ['POST', '/v1/pools/fresh/refresh', {}],
    ['POST', '/v1/pools/fresh/recompose', {}],
    ['PATCH', '/v1/pools/fresh', { size: 7 }],
    ['DELETE', '/v1/pools/fresh', undefined],
  ] as const) {
    const busy = await call(method, url, body)
    t.equal(busy.statusCode, 409, `${method} ${url}: ${busy.body}`)
    t.equal(busy.json().code, 'POOL_BUSY')
  }

  const done = await waitForDeployment(service, id)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(done.kind, 'refresh')
  t.equal(done.pool, 'fresh')
  t.equal(done.maxConcurrent, 2)
  t.equal(done.progress.total, 6)
  t.equal(done.progress.byStatus.ready, 6)
  t.equal(done.snapshot.name, 'Base')
  // Every change of a clone's status, replayed in the order PostgreSQL recorded them: at least 6 - 2
  // numbers have a ready clone after each one (no sampling: a dip between two reads cannot hide).
  t.equal(readyAtStart.length, 6, 'six ready clones when the refresh began')
  const { fewestReady, changes } = await fewestReadyNumbers('fresh', readyAtStart)
  t.ok(changes >= 12, `every status change was replayed (${changes})`)
  t.ok(fewestReady >= 4, `never more than 2 clones unavailable (fewest ready: ${fewestReady})`)

  const stats = await service.sim.stats()
  t.ok(stats.tasks.maxInFlight <= 2, `at most 2 vCenter operations at once (saw ${stats.tasks.maxInFlight})`)
  t.equal(stats.methods.CloneVM_Task?.count, 6, 'each clone made once')
  t.equal(stats.methods.Destroy_Task?.count, 6, 'each old VM destroyed once')

  const after = await getPool('fresh')
  t.same(
    after.clones.map((c: any) => [c.name, c.number]),
    before.clones.map((c: any) => [c.name, c.number]),
    'same names and numbers',
  )
  const inVcenter = await vms()
  for (const c of after.clones) {
    t.equal(c.status, 'ready')
    t.not(c.moref, old.get(c.name)!.moref, `${c.name}: a new VM`)
    t.not(c.instanceUuid, old.get(c.name)!.instanceUuid, `${c.name}: a new instance UUID`)
    t.same(inVcenter.get(c.name), [c.moref], `${c.name}: exactly one VM of that name, the new one`)
  }
  t.ok(inVcenter.has(PARENT), 'the parent is untouched')

  // Old records kept, destroyed, each linked from its replacement.
  const rows = await records('fresh')
  t.equal(rows.length, 12)
  for (const c of after.clones) {
    const [was, now] = rows.filter((r) => r.name === c.name)
    t.equal(was!.status, 'destroyed')
    t.equal(was!.moref, old.get(c.name)!.moref)
    t.equal(was!.destroy_deployment_id, id)
    t.equal(now!.replaces_clone_id, was!.id)
    t.equal(now!.deployment_id, id)
  }
  // Each deployment clone shows what it replaced.
  t.same(
    done.clones.map((c: any) => [c.name, c.replaces.name, c.replaces.status, c.replaces.moref]),
    before.clones.map((c: any) => [c.name, c.name, 'destroyed', c.moref]),
  )

  const record = (await call('GET', '/v1/clones/Fresh01', undefined, 'deployments:read')).json()
  t.equal(record.status, 'ready')
  t.equal(record.moref, after.clones[0].moref, 'the name leads to the live clone')
  t.equal(record.provenance.replaces.vm.moref, old.get('Fresh01')!.moref)
  t.equal(record.provenance.replaces.status, 'destroyed')
  t.equal(record.provenance.replacedBy, null)

  // A subset: only those clones are rebuilt.
  const subset = await call('POST', '/v1/pools/fresh/refresh', { clones: ['Fresh02', 'Fresh05'] })
  t.equal(subset.statusCode, 202, subset.body)
  const sub = await waitForDeployment(service, subset.json().deploymentId)
  t.equal(sub.status, 'succeeded')
  t.equal(sub.maxConcurrent, 1, 'default: a quarter of the clones, at least one')
  const third = await getPool('fresh')
  for (const [i, c] of third.clones.entries()) {
    const rebuilt = c.name === 'Fresh02' || c.name === 'Fresh05'
    t.equal(c.moref !== after.clones[i].moref, rebuilt, `${c.name} ${rebuilt ? 'rebuilt' : 'untouched'}`)
  }
})

t.test('refused rebuilds change nothing, in vCenter or in the records', async (t) => {
  const pool = await createPool('steady', 'Steady', 2)
  const before = await vms()
  const deploymentsBefore = pool.deployments.length
  await service.sim.resetStats()

  const expect = async (res: Awaited<ReturnType<typeof call>>, status: number, code: string, what: string) => {
    t.equal(res.statusCode, status, `${what}: ${res.body}`)
    t.equal(res.json().code, code, what)
    return res.json()
  }
  await expect(await call('POST', '/v1/pools/nope/refresh', {}), 404, 'POOL_NOT_FOUND', 'refresh an unknown pool')
  await expect(await call('POST', '/v1/pools/nope/recompose', {}), 404, 'POOL_NOT_FOUND', 'recompose an unknown pool')
  await expect(await call('POST', '/v1/pools/steady/refresh', { maxUnavailable: 0 }), 400, 'VALIDATION_FAILED', 'maxUnavailable 0')
  await expect(await call('POST', '/v1/pools/steady/refresh', { maxUnavailable: 2001 }), 400, 'VALIDATION_FAILED', 'maxUnavailable 2001')
  await expect(await call('POST', '/v1/pools/steady/refresh', { maxUnavailable: 1.5 }), 400, 'VALIDATION_FAILED', 'maxUnavailable 1.5')
  await expect(await call('POST', '/v1/pools/steady/recompose', { maxUnavailable: -2 }), 400, 'VALIDATION_FAILED', 'recompose maxUnavailable')
  const unknown = await expect(
    await call('POST', '/v1/pools/steady/refresh', { clones: ['Steady01', 'Steady09', 'Fresh01'] }),
    400,
    'VALIDATION_FAILED',
    'clones not in the pool',
  )
  t.same(unknown.details.names, ['Steady09', 'Fresh01'])
  t.match(unknown.message, /Steady09, Fresh01/)
  await expect(await call('POST', '/v1/pools/steady/refresh', { clones: [] }), 400, 'VALIDATION_FAILED', 'empty subset')
  await expect(await call('POST', '/v1/pools/steady/refresh', { size: 3 }), 400, 'VALIDATION_FAILED', 'unknown field')
  const missing = await expect(
    await call('POST', '/v1/pools/steady/recompose', { snapshot: 'No Such Snapshot' }),
    404,
    'SNAPSHOT_NOT_FOUND',
    'snapshot not on the parent',
  )
  t.match(missing.message, /Tmpl Capture 1\.0.*No Such Snapshot/)
  await expect(await call('POST', '/v1/pools/steady/recompose', { parent: 'No Such Parent' }), 404, 'PARENT_NOT_FOUND', 'unknown parent')
  await expect(await call('POST', '/v1/pools/steady/recompose', { snapshot: ' ' }), 400, 'VALIDATION_FAILED', 'blank snapshot')
  await expect(await call('POST', '/v1/pools/steady/refresh', {}, 'deployments:read'), 403, 'FORBIDDEN', 'refresh needs deployments:write')
  await expect(await call('POST', '/v1/pools/steady/recompose', {}, 'deployments:read'), 403, 'FORBIDDEN', 'recompose needs deployments:write')

  const stats = await service.sim.stats()
  t.equal(stats.tasks.count, 0, 'no vCenter operation')
  t.same(await vms(), before, 'the same VMs')
  const after = await getPool('steady')
  t.equal(after.deployments.length, deploymentsBefore, 'no deployment recorded')
  t.same(after.snapshot, pool.snapshot)
  t.same(after.clones, pool.clones)
})

t.test('recompose onto a new snapshot: both snapshots in provenance, later scale ups from the new one', async (t) => {
  const before = await createPool('moving', 'Moving', 3)
  const parent = await parentRef()
  await vc.tasks.watch(await vc.createSnapshot(parent, 'Patched', { description: 'patched for the pool test' }))

  const res = await call('POST', '/v1/pools/moving/recompose', { snapshot: 'Patched', maxUnavailable: 2 })
  t.equal(res.statusCode, 202, res.body)
  t.equal(res.json().pool.snapshot.name, 'Patched', 'the pool moves to the snapshot at once')
  const done = await waitForDeployment(service, res.json().deploymentId)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(done.kind, 'recompose')
  t.equal(done.snapshot.name, 'Patched')

  const after = await getPool('moving')
  t.equal(after.snapshot.name, 'Patched')
  t.same(after.clones.map((c: any) => c.name), ['Moving01', 'Moving02', 'Moving03'])
  const record = (await call('GET', '/v1/clones/Moving02', undefined, 'deployments:read')).json()
  t.equal(record.provenance.snapshot.name, 'Patched', "the new clone's snapshot")
  t.equal(record.provenance.replaces.snapshot.name, 'Base', "the replaced clone's snapshot")
  t.equal(record.provenance.replaces.vm.moref, before.clones[1].moref)
  t.equal(record.provenance.replaces.status, 'destroyed')
  const rows = await records('moving')
  t.same(
    rows.map((r) => [r.name, r.status, r.snapshot_name]),
    [
      ['Moving01', 'destroyed', 'Base'],
      ['Moving01', 'ready', 'Patched'],
      ['Moving02', 'destroyed', 'Base'],
      ['Moving02', 'ready', 'Patched'],
      ['Moving03', 'destroyed', 'Base'],
      ['Moving03', 'ready', 'Patched'],
    ],
  )

  // The parent moves on (a newer current snapshot); the pool stays on the one it was recomposed onto.
  await vc.tasks.watch(await vc.createSnapshot(parent, 'Later'))
  const up = await call('PATCH', '/v1/pools/moving', { size: 4 })
  t.equal(up.statusCode, 202, up.body)
  const grown = await waitForDeployment(service, up.json().deploymentId)
  t.equal(grown.status, 'succeeded')
  t.equal(grown.snapshot.name, 'Patched', 'scale up from the pool snapshot, not the parent current one')
  const added = (await call('GET', '/v1/clones/Moving04', undefined, 'deployments:read')).json()
  t.equal(added.provenance.snapshot.name, 'Patched')

  // A refresh returns to the pool's snapshot too.
  const refreshed = await call('POST', '/v1/pools/moving/refresh', { clones: ['Moving01'] })
  t.equal(refreshed.statusCode, 202, refreshed.body)
  const again = await waitForDeployment(service, refreshed.json().deploymentId)
  t.equal(again.snapshot.name, 'Patched')
  const old = (await call('GET', `/v1/clones/Moving01`, undefined, 'deployments:read')).json()
  t.equal(old.provenance.replaces.snapshot.name, 'Patched')
  t.equal(old.provenance.replaces.deployment.kind, 'recompose', 'it replaced the clone the recompose made')

  // Without a body: the defaults (recompose onto the parent's current snapshot, now "Later").
  const plain = await service.app.inject({ method: 'POST', url: '/v1/pools/moving/recompose', headers: service.auth() })
  t.equal(plain.statusCode, 202, plain.body)
  t.equal(plain.json().pool.snapshot.name, 'Later')
  const latest = await waitForDeployment(service, plain.json().deploymentId)
  t.equal(latest.status, 'succeeded')
  t.equal(latest.maxConcurrent, 1, 'a quarter of 4 clones')
  t.same(latest.clones.map((c: any) => [c.name, c.status]), [
    ['Moving01', 'ready'],
    ['Moving02', 'ready'],
    ['Moving03', 'ready'],
    ['Moving04', 'ready'],
  ])

  // Stripped and made again, the pool starts from the parent's current snapshot, not its old record.
  const stripped = await call('DELETE', '/v1/pools/moving')
  t.equal((await waitForDeployment(service, stripped.json().deploymentId)).status, 'succeeded')
  await vc.tasks.watch(await vc.createSnapshot(parent, 'Newest'))
  const reborn = await createPool('moving', 'Moving', 1)
  t.equal(reborn.snapshot.name, 'Newest')
})

t.test('a clone whose instance UUID leads elsewhere than its recorded moref is neither destroyed nor rebuilt', async (t) => {
  const pool = await createPool('guarded', 'Guard', 2)
  await service.app.database.pool.query(`UPDATE clones SET moref = 'vm-999999' WHERE name = 'Guard02' AND status = 'ready'`)
  const res = await call('POST', '/v1/pools/guarded/refresh', { maxUnavailable: 2 })
  t.equal(res.statusCode, 202, res.body)
  const done = await waitForDeployment(service, res.json().deploymentId)
  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'CLONES_FAILED')
  t.match(done.error.message, /^1 of 2 clones failed/, 'the failed pair counts once')
  t.same(done.clones.map((c: any) => [c.name, c.status, c.error?.code ?? null]), [
    ['Guard01', 'ready', null],
    ['Guard02', 'failed', 'NOT_OWNED'],
  ])
  t.equal(done.clones[1].replaces.status, 'failed')
  t.same((await vms()).get('Guard02'), [pool.clones[1].moref], 'the VM is still in vCenter, untouched')
  t.same(
    (await getPool('guarded')).clones.map((c: any) => c.name),
    ['Guard01'],
    'the pool no longer counts the clone it could not vouch for',
  )
})

t.test('rebuild jobs of a dead worker are handed back by the reaper; one that crashes part-way, then runs again twice at once, neither duplicates nor loses a clone', async (t) => {
  const before = await createPool('sturdy', 'Sturdy', 2)
  // This process's clone workers stop: the test runs the job handler itself.
  await service.app.boss.offWork(QUEUES.provisionClone)
  const res = await call('POST', '/v1/pools/sturdy/refresh', { maxUnavailable: 2 })
  t.equal(res.statusCode, 202, res.body)
  const id = res.json().deploymentId
  const { rows: jobs } = await service.app.database.pool.query<{ id: string; name: string; replaces: string }>(
    `SELECT c.id, c.name, c.replaces_clone_id AS replaces FROM clones c WHERE c.deployment_id = $1 ORDER BY c.number`,
    [id],
  )
  t.equal(jobs.length, 2)
  const [first, second] = jobs as [(typeof jobs)[0], (typeof jobs)[0]]

  // A worker claims both jobs and dies at once: the reaper finds no owner and hands them back.
  const claimed = await service.app.boss.fetch<{ cloneId: string }>(QUEUES.provisionClone, { batchSize: 10 })
  t.same(claimed.map((j) => j.data.cloneId).sort(), jobs.map((j) => j.id).sort(), 'the rebuild runs as ordinary clone jobs')
  const reaper = new JobReaper(service.app.database.pool, service.app.boss, service.app.log, { minAgeSeconds: 0 })
  t.equal(await reaper.sweep(), 2, 'both handed back')
  const { rows: states } = await service.app.database.pool.query<{ state: string }>(
    `SELECT state FROM pgboss.job WHERE name = $1 AND data->>'cloneId' = ANY($2::text[])`,
    [QUEUES.provisionClone, jobs.map((j) => j.id)],
  )
  t.same(states.map((r) => r.state), ['retry', 'retry'], 'to be retried')

  // The worker dies right after vCenter did something, before it could record it.
  const real = service.app.vcenter
  const crashing = (method: 'destroyOwnedVm' | 'cloneFromSnapshot'): VcenterGateway =>
    new Proxy(real, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver)
        if (typeof value !== 'function') return value
        if (prop !== method) return value.bind(target)
        return async (...args: unknown[]) => {
          await value.apply(target, args)
          throw new Error(`worker killed after ${method}`)
        }
      },
    })
  const listener = new PgListener(service.db.url)
  const limiter = new OperationLimiter(service.db.url, 4, listener)
  await limiter.start()
  t.teardown(async () => {
    await limiter.close()
    await listener.close()
  })
  const log = service.app.log
  const worker = (gateway: VcenterGateway) =>
    new CloneProvisioner(service.app.repositories.cloneSteps, gateway, log, limiter, service.config.limits)
  await service.sim.resetStats()

  await t.rejects(worker(crashing('destroyOwnedVm')).run(first.id, { attempt: 0, lastAttempt: false }), /killed after destroyOwnedVm/)
  await t.rejects(worker(crashing('cloneFromSnapshot')).run(second.id, { attempt: 0, lastAttempt: false }), /killed after cloneFromSnapshot/)
  let rows = await records('sturdy')
  t.same(
    rows.map((r) => [r.name, r.status]),
    [
      ['Sturdy01', 'destroying'],
      ['Sturdy01', 'waiting'],
      ['Sturdy02', 'destroyed'],
      ['Sturdy02', 'cloning'],
    ],
    'recorded as far as each worker got',
  )
  let inVcenter = await vms()
  t.notOk(inVcenter.has('Sturdy01'), 'the first old VM was destroyed before the crash')
  t.equal(inVcenter.get('Sturdy02')?.length, 1, 'the second new VM was made before the crash')

  // Retried, and delivered twice at the same moment: one worker each, the other steps aside.
  const retry = worker(real)
  await Promise.all([
    retry.run(first.id, { attempt: 1, lastAttempt: false }),
    retry.run(first.id, { attempt: 1, lastAttempt: false }),
    retry.run(second.id, { attempt: 1, lastAttempt: false }),
    retry.run(second.id, { attempt: 1, lastAttempt: false }),
  ])
  // And once more after it is all done: nothing to do.
  await retry.run(first.id, { attempt: 2, lastAttempt: false })
  await retry.run(second.id, { attempt: 2, lastAttempt: false })

  const done = await waitForDeployment(service, id, 10_000)
  t.equal(done.status, 'succeeded', JSON.stringify(done.clones))
  rows = await records('sturdy')
  t.same(
    rows.map((r) => [r.name, r.status]),
    [
      ['Sturdy01', 'destroyed'],
      ['Sturdy01', 'ready'],
      ['Sturdy02', 'destroyed'],
      ['Sturdy02', 'ready'],
    ],
  )
  inVcenter = await vms()
  const stats = await service.sim.stats()
  t.equal(stats.methods.CloneVM_Task?.count, 2, 'each clone made once, the crashed clone adopted rather than cloned again')
  t.equal(stats.methods.Destroy_Task?.count, 2, 'each old VM destroyed once')
  for (const [i, name] of ['Sturdy01', 'Sturdy02'].entries()) {
    const live = rows.find((r) => r.name === name && r.status === 'ready')!
    t.same(inVcenter.get(name), [live.moref], `${name}: one VM, the recorded one`)
    t.not(live.moref, before.clones[i].moref)
    t.equal((await vc.findVmByInstanceUuid(live.instance_uuid))?.value, live.moref, 'found by its recorded instance UUID')
  }
  const pool = await getPool('sturdy')
  t.same(pool.clones.map((c: any) => [c.name, c.number, c.status]), [
    ['Sturdy01', 1, 'ready'],
    ['Sturdy02', 2, 'ready'],
  ])
})
