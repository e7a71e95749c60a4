/**
 * Pools over GraphQL against the simulator and a real PostgreSQL: createPool, resizePool and stripPool
 * do what POST, PATCH and DELETE /v1/pools do and answer the deployments they started (as
 * GET /v1/deployments/{id} shows them), pools and pool read them, with the same refusals and scopes.
 * reconcilePool repairs as POST /v1/pools/{name}/reconcile does, recording its ticket and request id.
 */
import t from 'tap'
import { connectToSimulator, startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'
import { codes, gql, queryCounter } from '../../helpers/graphql.js'

const PARENT = 'Tmpl Capture 1.0'
const WRITE = 'deployments:read deployments:write'
const READ = 'deployments:read'

let service: TestService
let countQueries: ReturnType<typeof queryCounter>

t.before(async () => {
  service = await startTestService()
  countQueries = queryCounter(service)
})
t.teardown(() => service?.stop())

const CHANGE = /* GraphQL */ `
  fragment Change on PoolChange {
    pool { name status parent prefix startNumber size copiedAttributes customizationAttribute hostLimit expiresAt requester }
    deployments { id kind pool status count startNumber hostLimit requester clones { name number status } }
  }
`
const CREATE = `mutation($input: CreatePoolInput!) { createPool(input: $input) { ...Change } } ${CHANGE}`
const RESIZE = `mutation($name: String!, $size: Int, $expiresAt: String) { resizePool(name: $name, size: $size, expiresAt: $expiresAt) { ...Change } } ${CHANGE}`
const STRIP = `mutation($name: String!) { stripPool(name: $name) { ...Change } } ${CHANGE}`
const PLAN = `query($input: CreatePoolInput!) { planPool(input: $input) { prefix startNumber startNumberChosen clones { name } } }`
const POOL = `query($name: String!) { pool(name: $name) { name status size expiresAt clones { name number status } deployments { id kind status } } }`

const create = (input: Record<string, unknown>, scope = WRITE, sub = 'portal-user') => gql(service, CREATE, { input }, scope, sub)
const resize = (variables: Record<string, unknown>, scope = WRITE) => gql(service, RESIZE, variables, scope)
const strip = (name: string, scope = WRITE) => gql(service, STRIP, { name }, scope)
const pool = async (name: string) => {
  const res = await gql(service, POOL, { name }, READ)
  if (res.statusCode !== 200) throw new Error(JSON.stringify(res.body))
  return res.body.data!.pool
}

/** The deployment as REST shows it, in GraphQL's spelling of what both show. */
async function restDeployment(id: string) {
  const res = await service.app.inject({ method: 'GET', url: `/v1/deployments/${id}`, headers: service.auth(READ) })
  return res.json()
}

const sql = (text: string, values: unknown[] = []) => service.app.database.pool.query(text, values)
const count = async (table: string) => (await sql(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number

t.test('a pool lives: created, busy while deploying, scaled up, scaled down, renewed, stripped back', async (t) => {
  const created = await create({ name: 'beta', parent: PARENT, prefix: 'Beta', startNumber: 1, size: 3, hostLimit: 2 })
  t.equal(created.statusCode, 200, JSON.stringify(created.body.errors))
  const change = created.body.data!.createPool
  t.match(change.pool, {
    name: 'beta',
    status: 'ACTIVE',
    parent: PARENT,
    prefix: 'Beta',
    startNumber: 1,
    size: 3,
    copiedAttributes: null,
    customizationAttribute: null,
    hostLimit: 2,
    expiresAt: null,
    requester: 'portal-user',
  })
  t.equal(change.deployments.length, 1)
  const [first] = change.deployments
  t.match(first, { kind: 'DEPLOY', pool: 'beta', status: 'QUEUED', count: 3, startNumber: 1, hostLimit: 2, requester: 'portal-user' })
  t.same(first.clones.map((c: any) => c.name), ['Beta01', 'Beta02', 'Beta03'])
  const rest = await restDeployment(first.id)
  t.same(rest.clones.map((c: any) => c.name), ['Beta01', 'Beta02', 'Beta03'], 'the deployment REST shows')

  const busy = await resize({ name: 'beta', size: 4 })
  t.same(codes(busy), ['POOL_BUSY'])
  t.equal(busy.statusCode, 409)
  t.equal(busy.body.errors![0]!.extensions!.details.pool, 'beta')

  t.equal((await waitForDeployment(service, first.id)).status, 'succeeded')
  let p = await pool('beta')
  t.same(p.clones.map((c: any) => [c.name, c.status]), [['Beta01', 'READY'], ['Beta02', 'READY'], ['Beta03', 'READY']])
  t.same(p.deployments.map((d: any) => [d.id, d.kind, d.status]), [[first.id, 'DEPLOY', 'SUCCEEDED']])

  // Scale up: the next free numbers.
  const up = await resize({ name: 'beta', size: 5 })
  t.equal(up.statusCode, 200, JSON.stringify(up.body.errors))
  t.equal(up.body.data!.resizePool.pool.size, 5)
  t.same(up.body.data!.resizePool.deployments.map((d: any) => [d.kind, d.startNumber, d.count]), [['DEPLOY', 4, 2]])
  t.equal((await waitForDeployment(service, up.body.data!.resizePool.deployments[0].id)).status, 'succeeded')

  // Scale down: the highest numbers are destroyed; the deployment shows them, as REST does.
  const down = await resize({ name: 'beta', size: 2 })
  t.equal(down.statusCode, 200, JSON.stringify(down.body.errors))
  const [shrink] = down.body.data!.resizePool.deployments
  t.match(shrink, { kind: 'SCALE_DOWN', pool: 'beta', count: 3 })
  t.same(shrink.clones.map((c: any) => [c.name, c.status]), [['Beta03', 'DESTROYING'], ['Beta04', 'DESTROYING'], ['Beta05', 'DESTROYING']])
  const shrunk = await waitForDeployment(service, shrink.id)
  t.equal(shrunk.status, 'succeeded', JSON.stringify(shrunk.error))
  const read = await gql(
    service,
    `query($id: ID!) { deployment(id: $id) { kind status progress { total done byStatus { destroyed } } clones { name status } } }`,
    { id: shrink.id },
    READ,
  )
  t.same(read.body.data!.deployment, {
    kind: 'SCALE_DOWN',
    status: 'SUCCEEDED',
    progress: { total: 3, done: 3, byStatus: { destroyed: 3 } },
    clones: shrunk.clones.map((c: any) => ({ name: c.name, status: c.status.toUpperCase() })),
  }, 'deployment(id) shows what GET /v1/deployments/{id} shows')
  p = await pool('beta')
  t.same(p.clones.map((c: any) => c.name), ['Beta01', 'Beta02'])
  t.equal(p.deployments[0].kind, 'SCALE_DOWN', 'newest first')

  // Renew: only the expiry changes, nothing is deployed.
  const later = new Date(Date.now() + 3_600_000).toISOString()
  const renewed = await resize({ name: 'beta', expiresAt: later })
  t.equal(renewed.statusCode, 200, JSON.stringify(renewed.body.errors))
  t.equal(renewed.body.data!.resizePool.pool.expiresAt, later)
  t.same(renewed.body.data!.resizePool.deployments, [])

  // Strip back.
  const stripped = await strip('beta')
  t.equal(stripped.statusCode, 200, JSON.stringify(stripped.body.errors))
  const { pool: after, deployments } = stripped.body.data!.stripPool
  t.equal(after.status, 'STRIPPED')
  t.same(deployments.map((d: any) => [d.kind, d.clones.map((c: any) => c.name)]), [['STRIP', ['Beta01', 'Beta02']]])
  t.equal((await waitForDeployment(service, deployments[0].id)).status, 'succeeded')
  p = await pool('beta')
  t.equal(p.status, 'STRIPPED')
  t.same(p.clones, [])
  const record = await gql(service, `{ clone(name: "Beta01") { status } }`, {}, READ)
  t.equal(record.body.data!.clone.status, 'DESTROYED', 'the clone record is kept')
})

t.test('refusals: the codes of /v1/pools, and a refused pool is not made', async (t) => {
  const seeded = await create({ name: 'gamma', parent: PARENT, prefix: 'Gamma', startNumber: 1, size: 1 })
  t.equal(seeded.statusCode, 200, JSON.stringify(seeded.body.errors))
  await waitForDeployment(service, seeded.body.data!.createPool.deployments[0].id)

  const pools = await count('pools')
  const deployments = await count('deployments')
  const cases: [string, Record<string, unknown>, string, number][] = [
    ['no such parent', { name: 'delta', parent: 'Tmpl Nothing 1.0', prefix: 'Delta', startNumber: 1, size: 1 }, 'PARENT_NOT_FOUND', 404],
    ['a taken name', { name: 'gamma', parent: PARENT, prefix: 'Other', startNumber: 1, size: 1 }, 'NAME_CONFLICT', 409],
    ['numbers of another pool', { name: 'delta', parent: PARENT, prefix: 'Gamma', startNumber: 1, size: 2 }, 'NAME_CONFLICT', 409],
    ['a name with a slash', { name: 'a/b', parent: PARENT, prefix: 'Ab', startNumber: 1, size: 1 }, 'VALIDATION_FAILED', 400],
    ['size 0', { name: 'delta', parent: PARENT, prefix: 'Delta', startNumber: 1, size: 0 }, 'VALIDATION_FAILED', 400],
    ['size 2001', { name: 'delta', parent: PARENT, prefix: 'Delta', startNumber: 1, size: 2001 }, 'VALIDATION_FAILED', 400],
    ['a past expiry', { name: 'delta', parent: PARENT, prefix: 'Delta', startNumber: 1, size: 1, expiresAt: '2020-01-01T00:00:00Z' }, 'VALIDATION_FAILED', 400],
    ['hostLimit 0', { name: 'delta', parent: PARENT, prefix: 'Delta', startNumber: 1, size: 1, hostLimit: 0 }, 'VALIDATION_FAILED', 400],
  ]
  for (const [what, input, code, status] of cases) {
    const res = await create(input)
    const rest = await service.app.inject({ method: 'POST', url: '/v1/pools', headers: service.auth(WRITE), payload: input })
    t.same(codes(res), [code], what)
    t.equal(res.statusCode, status, `${what}: HTTP ${status}`)
    t.equal(rest.json().code, code, `${what}: REST says ${code} too`)
    const restDetails = JSON.parse(JSON.stringify(rest.json().details ?? null).replaceAll('"body/', '"input/'))
    t.same(res.body.errors![0]!.extensions!.details ?? null, restDetails, `${what}: same details`)
    t.equal(res.body.data, null)
    t.same(codes(await gql(service, PLAN, { input }, WRITE)), [code], `${what}: planPool refuses it alike`)
  }
  // planPool: the plan createPool would follow, the start chosen past the taken names; nothing recorded.
  const planned = await gql(service, PLAN, { input: { name: 'delta', parent: PARENT, prefix: 'Gamma', size: 2 } }, WRITE)
  t.equal(planned.statusCode, 200, JSON.stringify(planned.body.errors))
  t.match(planned.body.data!.planPool, { prefix: 'Gamma', startNumber: 2, startNumberChosen: true, clones: [{ name: 'Gamma02' }, { name: 'Gamma03' }] })
  t.same(codes(await gql(service, PLAN, { input: { name: 'delta', parent: PARENT, prefix: 'Delta', size: 1 } }, READ)), ['FORBIDDEN'], 'planPool needs deployments:write')
  t.equal(await count('pools'), pools, 'no pool was made')
  t.equal(await count('deployments'), deployments, 'no deployment was recorded')
  const missing = await gql(service, POOL, { name: 'delta' }, READ)
  t.same(missing.body.data, { pool: null })
  t.match(missing.body.errors, [{ path: ['pool'], extensions: { code: 'POOL_NOT_FOUND', details: { pool: 'delta' } } }])

  const changes: [string, Record<string, unknown>, string][] = [
    ['an unknown pool', { name: 'nothing', size: 2 }, 'POOL_NOT_FOUND'],
    ['neither size nor expiry', { name: 'gamma' }, 'VALIDATION_FAILED'],
    ['size -1', { name: 'gamma', size: -1 }, 'VALIDATION_FAILED'],
    ['an expiry that is not a date', { name: 'gamma', expiresAt: 'tomorrow' }, 'VALIDATION_FAILED'],
  ]
  for (const [what, variables, code] of changes) {
    const res = await resize(variables)
    const { name, ...body } = variables
    const rest = await service.app.inject({ method: 'PATCH', url: `/v1/pools/${name}`, headers: service.auth(WRITE), payload: body })
    t.same(codes(res), [code], what)
    t.equal(rest.json().code, code, `${what}: REST says ${code} too`)
  }
  t.same(codes(await strip('nothing')), ['POOL_NOT_FOUND'])
  t.equal((await pool('gamma')).size, 1, 'unchanged')
  t.equal(await count('deployments'), deployments, 'still no deployment recorded')
})

/** A pool of its own for a test (whatever the other tests made), deployed. */
async function readyPool(name: string, prefix: string, size: number) {
  const res = await create({ name, parent: PARENT, prefix, startNumber: 1, size })
  if (res.statusCode !== 200) throw new Error(JSON.stringify(res.body.errors))
  const done = await waitForDeployment(service, res.body.data!.createPool.deployments[0].id)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done.error))
}

t.test('scopes: deployments:write to change a pool, deployments:read to read one', async (t) => {
  await readyPool('zeta', 'Zeta', 1)
  const pools = await count('pools')
  const deployments = await count('deployments')
  const refusals = [
    await create({ name: 'epsilon', parent: PARENT, prefix: 'Epsilon', startNumber: 1, size: 1 }, READ),
    await resize({ name: 'zeta', size: 3 }, READ),
    await strip('zeta', READ),
  ]
  for (const res of refusals) {
    t.same(codes(res), ['FORBIDDEN'])
    t.equal(res.statusCode, 403)
    t.same(res.body.errors![0]!.extensions!.details, { required: 'deployments:write' })
  }
  for (const query of ['{ pools { nodes { name } } }', '{ pool(name: "zeta") { name } }']) {
    const res = await gql(service, query, {}, 'secrets:read')
    t.same(codes(res), ['FORBIDDEN'], query)
    t.same(res.body.errors![0]!.extensions!.details, { required: 'deployments:read' })
  }
  t.equal(await count('pools'), pools)
  t.equal(await count('deployments'), deployments)
  const zeta = await pool('zeta')
  t.equal(zeta.status, 'ACTIVE', 'not stripped')
  t.equal(zeta.size, 1, 'not resized')
})

t.test('pools: every pool with its clones and deployments, in a fixed number of queries', async (t) => {
  // Pools of its own: one live, one scaled down then stripped (whatever the other tests left).
  await readyPool('kappa', 'Kappa', 1)
  await readyPool('lambda', 'Lambda', 2)
  const shrunk = await resize({ name: 'lambda', size: 1 })
  t.equal((await waitForDeployment(service, shrunk.body.data!.resizePool.deployments[0].id)).status, 'succeeded')
  const stripped = await strip('lambda')
  t.equal((await waitForDeployment(service, stripped.body.data!.stripPool.deployments[0].id)).status, 'succeeded')
  const { result, queries } = await countQueries(() =>
    gql(service, `{ pools(limit: 20) { nodes { name status size clones { name deployment { id } } deployments { id kind } } } }`, {}, READ),
  )
  t.equal(result.statusCode, 200, JSON.stringify(result.body.errors))
  const byName = Object.fromEntries(result.body.data!.pools.nodes.map((p: any) => [p.name, p]))
  const names = result.body.data!.pools.nodes.map((p: any) => p.name)
  t.same(names, [...names].sort(), 'by name')
  t.ok(names.includes('kappa') && names.includes('lambda'))
  t.equal(byName.lambda.status, 'STRIPPED')
  t.same(byName.kappa.clones.map((c: any) => c.name), ['Kappa01'])
  t.same(byName.lambda.deployments.map((d: any) => d.kind), ['STRIP', 'SCALE_DOWN', 'DEPLOY'])
  const rest = (await service.app.inject({ method: 'GET', url: '/v1/pools/lambda', headers: service.auth(READ) })).json()
  t.same(byName.lambda.deployments.map((d: any) => d.id), rest.deployments.map((d: any) => d.id), 'the deployments REST lists')
  // The pools, their clones, the clones' deployments, the pools' latest deployments.
  t.equal(queries.length, 4, 'one query per kind of record', { queries })
})

const REFRESH = `mutation($name: String!, $maxUnavailable: Int, $clones: [String!]) { refreshPool(name: $name, maxUnavailable: $maxUnavailable, clones: $clones) { ...Change } } ${CHANGE}`
const RECOMPOSE = `mutation($name: String!, $snapshot: String, $maxUnavailable: Int) { recomposePool(name: $name, snapshot: $snapshot, maxUnavailable: $maxUnavailable) { ...Change } } ${CHANGE}`
const POOL_STATE = `query($name: String!) { pool(name: $name) { snapshot { name moref } drift { status } clones { name number moref } } }`

t.test('refreshPool and recomposePool rebuild the clones as the REST routes do, and answer their deployments', async (t) => {
  const created = await create({ name: 'rho', parent: PARENT, prefix: 'Rho', startNumber: 1, size: 2 })
  t.equal((await waitForDeployment(service, created.body.data!.createPool.deployments[0].id)).status, 'succeeded')
  const state = async () => (await gql(service, POOL_STATE, { name: 'rho' }, READ)).body.data!.pool
  const before = await state()
  t.equal(before.snapshot.name, 'Base', "the pool's snapshot")
  t.equal(before.drift, null, 'no drift check yet')

  const refreshed = await gql(service, REFRESH, { name: 'rho', maxUnavailable: 1, clones: ['Rho02'] }, WRITE)
  t.equal(refreshed.statusCode, 200, JSON.stringify(refreshed.body.errors))
  const [refresh] = refreshed.body.data!.refreshPool.deployments
  t.match(refresh, { kind: 'REFRESH', pool: 'rho', count: 1 })
  t.same(refresh.clones.map((c: { name: string }) => c.name), ['Rho02'])
  const rest = await restDeployment(refresh.id)
  t.equal(rest.kind, 'refresh', 'the same deployment REST shows')
  t.equal(rest.maxConcurrent, 1)
  t.equal((await waitForDeployment(service, refresh.id)).status, 'succeeded')
  const afterRefresh = await state()
  t.equal(afterRefresh.clones[0].moref, before.clones[0].moref, 'Rho01 untouched')
  t.not(afterRefresh.clones[1].moref, before.clones[1].moref, 'Rho02 is a new VM')

  const busy = await gql(service, REFRESH, { name: 'rho' }, WRITE)
  t.same(codes(busy), [], 'idle again: a refresh of every clone is accepted')
  t.equal((await waitForDeployment(service, busy.body.data!.refreshPool.deployments[0].id)).status, 'succeeded')

  const badInput = await gql(service, REFRESH, { name: 'rho', maxUnavailable: 0 }, WRITE)
  t.same(codes(badInput), ['VALIDATION_FAILED'])
  const unknownClone = await gql(service, REFRESH, { name: 'rho', clones: ['Nope01'] }, WRITE)
  t.same(codes(unknownClone), ['VALIDATION_FAILED'])
  const noSnapshot = await gql(service, RECOMPOSE, { name: 'rho', snapshot: 'No such snapshot' }, WRITE)
  t.same(codes(noSnapshot), ['SNAPSHOT_NOT_FOUND'])
  const noPool = await gql(service, RECOMPOSE, { name: 'nope' }, WRITE)
  t.same(codes(noPool), ['POOL_NOT_FOUND'])
  const forbidden = await gql(service, RECOMPOSE, { name: 'rho' }, READ)
  t.same(codes(forbidden), ['FORBIDDEN'])

  const recomposed = await gql(service, RECOMPOSE, { name: 'rho', snapshot: before.snapshot.moref, maxUnavailable: 2 }, WRITE)
  t.equal(recomposed.statusCode, 200, JSON.stringify(recomposed.body.errors))
  const [recompose] = recomposed.body.data!.recomposePool.deployments
  t.match(recompose, { kind: 'RECOMPOSE', pool: 'rho', count: 2 })
  t.equal((await waitForDeployment(service, recompose.id)).status, 'succeeded')
  t.equal((await state()).snapshot.moref, before.snapshot.moref, 'named by its moref')

  t.equal((await strip('rho')).statusCode, 200)
})

const RECONCILE = `mutation($name: String!, $ticket: String) {
  reconcilePool(name: $name, ticket: $ticket) { pool { name } drift { status findings { kind clone } } repairs { powerOn recreate add } deployments { id kind ticket requestId } }
}`

t.test('reconcilePool repairs a drifted pool as REST does; its ticket and request id are on the repair', async (t) => {
  await readyPool('tau', 'Tau', 2)
  const clone = (await pool('tau')).clones[0]
  const vc = await connectToSimulator(service.sim)
  try {
    const [moref] = (await sql('SELECT moref FROM clones WHERE name = $1 AND destroyed_at IS NULL', [clone.name])).rows.map((r) => r.moref as string)
    await vc.tasks.watch(await vc.powerOffVM({ type: 'VirtualMachine', value: moref! }))
  } finally {
    await vc.close()
  }

  t.same(codes(await gql(service, RECONCILE, { name: 'tau' }, READ)), ['FORBIDDEN'])
  t.same(codes(await gql(service, RECONCILE, { name: 'nope' }, WRITE)), ['POOL_NOT_FOUND'])
  t.same(codes(await gql(service, RECONCILE, { name: 'tau', ticket: '' }, WRITE)), ['VALIDATION_FAILED'], 'the ticket is held to the REST limits')

  const res = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth(WRITE, 'portal-user'), 'x-request-id': 'gql-reconcile-1' },
    payload: { query: RECONCILE, variables: { name: 'tau', ticket: 'INC0007002' } },
  })
  const body = res.json()
  t.same(body.errors, undefined)
  const outcome = body.data.reconcilePool
  t.equal(outcome.pool.name, 'tau')
  t.same(outcome.drift.findings, [{ kind: 'POWERED_OFF', clone: clone.name }])
  t.same(outcome.repairs, { powerOn: [clone.name], recreate: [], add: 0 })
  t.equal(outcome.deployments.length, 1)
  t.match(outcome.deployments[0], { kind: 'RECONCILE', ticket: 'INC0007002', requestId: 'gql-reconcile-1' })
  t.equal((await waitForDeployment(service, outcome.deployments[0].id)).status, 'succeeded')

  const again = await gql(service, RECONCILE, { name: 'tau' }, WRITE)
  t.same(again.body.data?.reconcilePool.deployments, [], 'nothing left to repair')

  const stripped = await gql(service, `mutation { stripPool(name: "tau", ticket: "INC0007003") { deployments { kind ticket } } }`, {}, WRITE)
  t.same(stripped.body.data?.stripPool.deployments, [{ kind: 'STRIP', ticket: 'INC0007003' }], "the pool mutations' ticket argument")
})
