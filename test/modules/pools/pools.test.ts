/**
 * Pools end to end against the lab simulator and a real PostgreSQL: create, scale up (next free
 * numbers), scale down (highest numbers destroyed), renew, strip back (only the pool's own VMs, records
 * kept as destroyed), expiry by a scheduled job, and every refusal.
 */
import t from 'tap'
import { VimClient, type MoRef, type VirtualMachineCloneSpec } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService()
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

async function vmNames(): Promise<Set<string>> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  return new Set(all.map((o) => String(o.props.name)))
}

/** A VM the service did not make, cloned from the parent behind its back. */
async function foreignVm(name: string): Promise<MoRef> {
  const [parent] = await vc.property
    .listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'parent', 'resourcePool', 'snapshot'])
    .then((vms) => vms.filter((o) => o.props.name === PARENT))
  const spec: VirtualMachineCloneSpec = {
    location: { diskMoveType: 'createNewChildDiskBacking', pool: parent!.props.resourcePool as MoRef },
    template: false,
    powerOn: true,
    snapshot: (parent!.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot,
  }
  const task = await vc.cloneVM(parent!.obj, parent!.props.parent as MoRef, name, spec)
  return (await vc.tasks.watch(task)).result as MoRef
}

function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

async function getPool(name: string) {
  const res = await call('GET', `/v1/pools/${encodeURIComponent(name)}`, undefined, 'deployments:read')
  return res.json()
}

t.test('a pool lives: created, busy while deploying, scaled up, scaled down, renewed, stripped back', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Alpha', startNumber: 1, size: 3 })
  t.equal(created.statusCode, 202, created.body)
  const body = created.json()
  t.equal(created.headers.location, `/v1/deployments/${body.deploymentId}`)
  t.equal(body.pool.name, 'alpha')
  t.equal(body.pool.size, 3)

  // A second change while the first deployment runs is refused.
  const busy = await call('PATCH', '/v1/pools/alpha', { size: 4 })
  t.equal(busy.statusCode, 409, busy.body)
  t.equal(busy.json().code, 'POOL_BUSY')

  const deployed = await waitForDeployment(service, body.deploymentId)
  t.equal(deployed.status, 'succeeded')
  let pool = await getPool('alpha')
  t.same(pool.clones.map((c: { name: string }) => c.name), ['Alpha01', 'Alpha02', 'Alpha03'])
  t.equal(pool.deployments[0].kind, 'deploy')

  // Scale up: the next free numbers.
  const up = await call('PATCH', '/v1/pools/alpha', { size: 5 })
  t.equal(up.statusCode, 202, up.body)
  t.equal((await waitForDeployment(service, up.json().deploymentId)).status, 'succeeded')
  pool = await getPool('alpha')
  t.same(pool.clones.map((c: { number: number }) => c.number), [1, 2, 3, 4, 5])
  t.equal(pool.size, 5)
  let names = await vmNames()
  for (const n of ['Alpha04', 'Alpha05']) t.ok(names.has(n), `${n} in vCenter`)

  // Scale down: the highest numbers go, from vCenter too; their records stay, destroyed.
  const down = await call('PATCH', '/v1/pools/alpha', { size: 2 })
  t.equal(down.statusCode, 202, down.body)
  const shrunk = await waitForDeployment(service, down.json().deploymentId)
  t.equal(shrunk.status, 'succeeded', JSON.stringify(shrunk.error))
  t.same(shrunk.clones.map((c: { name: string; status: string }) => [c.name, c.status]), [
    ['Alpha03', 'destroyed'],
    ['Alpha04', 'destroyed'],
    ['Alpha05', 'destroyed'],
  ])
  pool = await getPool('alpha')
  t.same(pool.clones.map((c: { name: string }) => c.name), ['Alpha01', 'Alpha02'])
  t.equal(pool.deployments[0].kind, 'scale-down')
  names = await vmNames()
  for (const n of ['Alpha03', 'Alpha04', 'Alpha05']) t.notOk(names.has(n), `${n} gone from vCenter`)
  t.ok(names.has('Alpha01') && names.has('Alpha02'))

  // Scale up again: the numbers freed are reused, never doubled.
  const again = await call('PATCH', '/v1/pools/alpha', { size: 3 })
  t.equal(again.statusCode, 202, again.body)
  t.equal((await waitForDeployment(service, again.json().deploymentId)).status, 'succeeded')
  pool = await getPool('alpha')
  t.same(pool.clones.map((c: { number: number }) => c.number), [1, 2, 3])

  // Renew: only the expiry changes, nothing is deployed.
  const later = new Date(Date.now() + 3_600_000).toISOString()
  const renewed = await call('PATCH', '/v1/pools/alpha', { expiresAt: later })
  t.equal(renewed.statusCode, 200, renewed.body)
  t.equal(renewed.json().pool.expiresAt, later)
  t.same(renewed.json().deploymentIds, [])

  // Strip back: the pool's clones only; never the parent or a VM the service did not make.
  const foreign = await foreignVm('Alpha09')
  const stripped = await call('DELETE', '/v1/pools/alpha')
  t.equal(stripped.statusCode, 202, stripped.body)
  t.equal(stripped.headers.location, `/v1/deployments/${stripped.json().deploymentId}`)
  const strip = await waitForDeployment(service, stripped.json().deploymentId)
  t.equal(strip.status, 'succeeded', JSON.stringify(strip.error))
  t.same(strip.clones.map((c: { status: string }) => c.status), ['destroyed', 'destroyed', 'destroyed'])
  names = await vmNames()
  for (const n of ['Alpha01', 'Alpha02', 'Alpha03']) t.notOk(names.has(n), `${n} gone from vCenter`)
  t.ok(names.has(PARENT), 'the parent is untouched')
  t.ok(names.has('Alpha09'), 'a VM the service did not make is untouched')
  const [parentProps] = await vc.property
    .listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'snapshot'])
    .then((vms) => vms.filter((o) => o.props.name === PARENT))
  t.ok((parentProps!.props.snapshot as { currentSnapshot?: MoRef })?.currentSnapshot, "the parent's snapshot is kept")
  await vc.tasks.watch(await vc.powerOffVM(foreign)).catch(() => {}) // the simulator may not have powered it on
  await vc.tasks.watch(await vc.destroy(foreign))

  pool = await getPool('alpha')
  t.equal(pool.status, 'stripped')
  t.same(pool.clones, [])
  const record = await call('GET', '/v1/clones/Alpha01', undefined, 'deployments:read')
  t.equal(record.statusCode, 200, 'the clone record is kept')
  t.equal(record.json().status, 'destroyed')

  const listed = await call('GET', '/v1/pools', undefined, 'deployments:read')
  t.equal(listed.statusCode, 200)
  t.ok(listed.json().pools.some((p: { name: string; status: string }) => p.name === 'alpha' && p.status === 'stripped'))

  // A stripped pool's names can be used again.
  const reborn = await call('POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Alpha', startNumber: 1, size: 1 })
  t.equal(reborn.statusCode, 202, reborn.body)
  t.equal((await waitForDeployment(service, reborn.json().deploymentId)).status, 'succeeded')
  const gone = await call('DELETE', '/v1/pools/alpha')
  t.equal((await waitForDeployment(service, gone.json().deploymentId)).status, 'succeeded')
})

t.test('a pool with an expiry is stripped back at that time by a scheduled job', async (t) => {
  const expiresAt = new Date(Date.now() + 6_000).toISOString()
  const created = await call('POST', '/v1/pools', { name: 'short-lived', parent: PARENT, prefix: 'Brief', startNumber: 1, size: 2, expiresAt })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  t.ok((await vmNames()).has('Brief01'))
  const deadline = Date.now() + 60_000
  let pool = await getPool('short-lived')
  while (!(pool.status === 'stripped' && pool.deployments[0]?.status === 'succeeded') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500))
    pool = await getPool('short-lived')
  }
  t.equal(pool.status, 'stripped')
  t.equal(pool.deployments[0].kind, 'strip')
  t.equal(pool.deployments[0].status, 'succeeded')
  const names = await vmNames()
  t.notOk(names.has('Brief01') || names.has('Brief02'), 'its clones are gone from vCenter')
})

t.test('an overdue pool is stripped when the service starts', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'overdue', parent: PARENT, prefix: 'Late', startNumber: 1, size: 1 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  // As if it had expired while no service ran (no job was due).
  await service.app.database.pool.query(`UPDATE pools SET expires_at = now() - interval '1 minute' WHERE name = 'overdue'`)
  const stripped = await service.app.pools.expireOverdue((pool, err) => t.fail(`${pool}: ${String(err)}`))
  t.same(stripped, ['overdue'])
  const pool = await getPool('overdue')
  t.equal(pool.status, 'stripped')
  t.equal((await waitForDeployment(service, pool.deployments[0].id)).status, 'succeeded')
  t.notOk((await vmNames()).has('Late01'))
})

t.test('refusals', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'beta', parent: PARENT, prefix: 'Beta', startNumber: 1, size: 2 })
  t.equal(created.statusCode, 202, created.body)
  await waitForDeployment(service, created.json().deploymentId)

  const expect = async (res: Awaited<ReturnType<typeof call>>, status: number, code: string, what: string) => {
    t.equal(res.statusCode, status, `${what}: ${res.body}`)
    t.equal(res.json().code, code, what)
  }
  await expect(await call('GET', '/v1/pools/nope', undefined, 'deployments:read'), 404, 'POOL_NOT_FOUND', 'unknown pool')
  await expect(await call('PATCH', '/v1/pools/nope', { size: 1 }), 404, 'POOL_NOT_FOUND', 'resize unknown')
  await expect(await call('DELETE', '/v1/pools/nope'), 404, 'POOL_NOT_FOUND', 'strip unknown')
  await expect(await call('PATCH', '/v1/pools/beta', { size: 2001 }), 400, 'VALIDATION_FAILED', 'size too large')
  await expect(await call('PATCH', '/v1/pools/beta', { size: -1 }), 400, 'VALIDATION_FAILED', 'negative size')
  await expect(await call('PATCH', '/v1/pools/beta', {}), 400, 'VALIDATION_FAILED', 'nothing to change')
  await expect(
    await call('POST', '/v1/pools', { name: 'gamma', parent: PARENT, prefix: 'Gamma', startNumber: 1, size: 0 }),
    400,
    'VALIDATION_FAILED',
    'empty pool',
  )
  const past = new Date(Date.now() - 60_000).toISOString()
  await expect(await call('PATCH', '/v1/pools/beta', { expiresAt: past }), 400, 'VALIDATION_FAILED', 'renew into the past')
  await expect(
    await call('POST', '/v1/pools', { name: 'gamma', parent: PARENT, prefix: 'Gamma', startNumber: 1, size: 1, expiresAt: past }),
    400,
    'VALIDATION_FAILED',
    'expiry in the past',
  )
  await expect(
    await call('POST', '/v1/pools', { name: 'gamma', parent: PARENT, prefix: 'beta', startNumber: 2, size: 3 }),
    409,
    'NAME_CONFLICT',
    "another pool's prefix and numbers",
  )
  await expect(
    await call('POST', '/v1/pools', { name: 'beta', parent: PARENT, prefix: 'Other', startNumber: 1, size: 1 }),
    409,
    'NAME_CONFLICT',
    'pool name taken',
  )
  await expect(
    await call('POST', '/v1/pools', { name: 'gamma', parent: 'No Such Parent', prefix: 'Gamma', startNumber: 1, size: 1 }),
    404,
    'PARENT_NOT_FOUND',
    'unknown parent',
  )
  t.equal((await getPool('gamma')).code, 'POOL_NOT_FOUND', 'a refused pool is not recorded')
  await expect(await call('GET', '/v1/pools', undefined, 'deployments:write'), 403, 'FORBIDDEN', 'read needs deployments:read')
  await expect(await call('PATCH', '/v1/pools/beta', { size: 3 }, 'deployments:read'), 403, 'FORBIDDEN', 'changes need deployments:write')
  await expect(await call('DELETE', '/v1/pools/beta', undefined, 'deployments:read'), 403, 'FORBIDDEN', 'strip needs deployments:write')

  const gone = await call('DELETE', '/v1/pools/beta')
  t.equal(gone.statusCode, 202)
  await waitForDeployment(service, gone.json().deploymentId)
  await expect(await call('PATCH', '/v1/pools/beta', { size: 3 }), 404, 'POOL_NOT_FOUND', 'a stripped pool cannot be resized')
})

t.test('a VM whose instance UUID leads elsewhere than the recorded moref is left untouched', async (t) => {
  const created = await call('POST', '/v1/pools', { name: 'guarded', parent: PARENT, prefix: 'Guard', startNumber: 1, size: 1 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  // The record no longer matches vCenter: the UUID now finds a VM that is not the one recorded.
  await service.app.database.pool.query(`UPDATE clones SET moref = 'vm-999999' WHERE name = 'Guard01'`)
  const stripped = await call('DELETE', '/v1/pools/guarded')
  t.equal(stripped.statusCode, 202, stripped.body)
  const strip = await waitForDeployment(service, stripped.json().deploymentId)
  t.equal(strip.status, 'failed')
  t.equal(strip.clones[0].error.code, 'NOT_OWNED')
  t.ok((await vmNames()).has('Guard01'), 'the VM is still in vCenter')
})
