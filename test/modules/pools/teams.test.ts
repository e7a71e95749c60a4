/**
 * Pools and teams, against the lab simulator and a real PostgreSQL: a caller sees and changes only
 * its teams' pools (REST and GraphQL); another team's pool answers 404 POOL_NOT_FOUND exactly like a
 * missing one and nothing changes (records, deployments, VMs); admin sees and acts on all; pool names
 * stay global; the events of a pool carry its team, also when the service itself acts (expiry, drift).
 */
import t from 'tap'
import { VimClient } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'
const WRITE = 'deployments:read deployments:write'

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

type Who = 'red' | 'blue' | 'both' | 'admin' | 'reader'
const headers = (who: Who) =>
  who === 'admin'
    ? service.auth('admin', 'root')
    : who === 'both'
      ? service.auth(WRITE, 'bea', ['red', 'blue'])
      : who === 'reader'
        ? service.auth('deployments:read', 'rolf', ['red'])
        : service.auth(WRITE, who === 'red' ? 'rita' : 'bob', [who])

function call(who: Who, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return service.app.inject({ method, url, headers: headers(who), ...(payload ? { payload } : {}) })
}

async function gql(who: Who, query: string, variables: Record<string, unknown> = {}) {
  const res = await service.app.inject({ method: 'POST', url: '/graphql', headers: headers(who), payload: { query, variables } })
  return res.json() as { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, any> }[] }
}

const sql = (text: string, values: unknown[] = []) => service.app.database.pool.query(text, values)
const count = async (table: string) => (await sql(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number

async function vms(): Promise<string[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState'])
  return all.map((o) => `${String(o.props.name)}:${String(o.props['runtime.powerState'])}`).sort()
}

/** Everything a refused change could have touched: the pools' records, deployments, clones, events, jobs, vCenter's VMs. */
async function state() {
  return {
    pools: (await sql('SELECT * FROM pools ORDER BY name, created_at')).rows,
    deployments: await count('deployments'),
    clones: (await sql('SELECT id, status, moref, updated_at FROM clones ORDER BY id')).rows,
    events: await count('webhook_events'),
    vms: await vms(),
  }
}

const POOL_FIELDS = 'name status team requester size clones { name } deployments { id }'

t.test('pools of two teams: created in the caller\'s team, each team sees its own, admin all', async (t) => {
  // Team refusals before anything is planned or recorded.
  const before = await state()
  const required = await call('both', 'POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2 })
  t.equal(required.statusCode, 400, required.body)
  t.equal(required.json().code, 'TEAM_REQUIRED')
  const forbidden = await call('red', 'POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2, team: 'blue' })
  t.equal(forbidden.statusCode, 403, forbidden.body)
  t.equal(forbidden.json().code, 'TEAM_FORBIDDEN')
  const tooLong = await call('red', 'POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2, team: 'x'.repeat(201) })
  t.equal(tooLong.statusCode, 400, tooLong.body)
  const planRequired = await gql('both', 'query($input: CreatePoolInput!) { planPool(input: $input) { prefix } }', {
    input: { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2 },
  })
  t.equal(planRequired.errors?.[0]?.extensions?.code, 'TEAM_REQUIRED')
  const planForbidden = await gql('blue', 'query($input: CreatePoolInput!) { planPool(input: $input) { prefix } }', {
    input: { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2, team: 'red' },
  })
  t.equal(planForbidden.errors?.[0]?.extensions?.code, 'TEAM_FORBIDDEN')
  const gqlForbidden = await gql('red', 'mutation($input: CreatePoolInput!) { createPool(input: $input) { pool { name } } }', {
    input: { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2, team: 'blue' },
  })
  t.equal(gqlForbidden.errors?.[0]?.extensions?.code, 'TEAM_FORBIDDEN')
  t.same(await state(), before, 'nothing recorded, nothing in vCenter')

  // A caller in both teams plans for one of them.
  const planned = await gql('both', 'query($input: CreatePoolInput!) { planPool(input: $input) { prefix clones { name } } }', {
    input: { name: 'alpha', parent: PARENT, prefix: 'Rx', size: 2, team: 'red' },
  })
  t.same(planned.data?.planPool, { prefix: 'Rx', clones: [{ name: 'Rx01' }, { name: 'Rx02' }] }, JSON.stringify(planned.errors))

  // Concurrent callers of two teams, each on its own pool (REST and GraphQL).
  const [red, blue] = await Promise.all([
    call('red', 'POST', '/v1/pools', { name: 'alpha', parent: PARENT, prefix: 'Rx', startNumber: 1, size: 2 }),
    gql('blue', 'mutation($input: CreatePoolInput!) { createPool(input: $input) { pool { name team } deployments { id } } }', {
      input: { name: 'bravo', parent: PARENT, prefix: 'Bx', startNumber: 1, size: 2 },
    }),
  ])
  t.equal(red.statusCode, 202, red.body)
  t.equal(red.json().pool.team, 'red')
  t.same(blue.data?.createPool.pool, { name: 'bravo', team: 'blue' }, JSON.stringify(blue.errors))
  t.equal((await waitForDeployment(service, red.json().deploymentId)).status, 'succeeded')
  t.equal((await waitForDeployment(service, blue.data!.createPool.deployments[0].id)).status, 'succeeded')

  // Lists: each team its own; a caller of both and admin every one.
  const names = async (who: Who) => (await call(who, 'GET', '/v1/pools')).json().pools.map((p: { name: string; team: string }) => `${p.name}:${p.team}`)
  t.same(await names('red'), ['alpha:red'])
  t.same(await names('blue'), ['bravo:blue'])
  t.same(await names('both'), ['alpha:red', 'bravo:blue'])
  t.same(await names('admin'), ['alpha:red', 'bravo:blue'])
  const gqlNames = async (who: Who) => (await gql(who, `{ pools { nodes { name team } } }`)).data?.pools.nodes.map((p: { name: string; team: string }) => `${p.name}:${p.team}`)
  t.same(await gqlNames('red'), ['alpha:red'])
  t.same(await gqlNames('blue'), ['bravo:blue'])
  t.same(await gqlNames('admin'), ['alpha:red', 'bravo:blue'])

  // One pool: another team's answers exactly as a missing one.
  const own = await call('blue', 'GET', '/v1/pools/bravo')
  t.equal(own.statusCode, 200)
  t.equal(own.json().team, 'blue')
  t.equal(own.json().clones.length, 2)
  const hidden = await call('red', 'GET', '/v1/pools/bravo')
  const missing = await call('red', 'GET', '/v1/pools/bravx')
  t.equal(hidden.statusCode, 404)
  t.equal(hidden.json().code, 'POOL_NOT_FOUND')
  t.same(Object.keys(hidden.json()).sort(), Object.keys(missing.json()).sort(), 'the same shape as a missing pool')
  t.equal(hidden.json().message, missing.json().message.replace('bravx', 'bravo'))
  t.equal((await call('admin', 'GET', '/v1/pools/bravo')).statusCode, 200, 'admin sees every pool')
  t.equal((await call('both', 'GET', '/v1/pools/bravo')).statusCode, 200)

  const gqlHidden = await gql('red', `query($name: String!) { pool(name: $name) { ${POOL_FIELDS} } }`, { name: 'bravo' })
  const gqlMissing = await gql('red', `query($name: String!) { pool(name: $name) { ${POOL_FIELDS} } }`, { name: 'bravx' })
  t.equal(gqlHidden.errors?.[0]?.extensions?.code, 'POOL_NOT_FOUND')
  t.equal(gqlHidden.errors?.[0]?.message, gqlMissing.errors?.[0]?.message.replace('bravx', 'bravo'))
  const gqlOwn = await gql('blue', `query($name: String!) { pool(name: $name) { ${POOL_FIELDS} } }`, { name: 'bravo' })
  t.match(gqlOwn.data?.pool, { name: 'bravo', team: 'blue', requester: 'bob', size: 2 })
  t.equal(gqlOwn.data?.pool.clones.length, 2)
})

t.test("each change of another team's pool is 404 POOL_NOT_FOUND and changes nothing", async (t) => {
  const before = await state()
  const rest: [string, 'POST' | 'PATCH' | 'DELETE', string, object?][] = [
    ['resize', 'PATCH', '/v1/pools/bravo', { size: 3 }],
    ['renew', 'PATCH', '/v1/pools/bravo', { expiresAt: new Date(Date.now() + 3_600_000).toISOString() }],
    ['refresh', 'POST', '/v1/pools/bravo/refresh', {}],
    ['recompose', 'POST', '/v1/pools/bravo/recompose', {}],
    ['strip', 'DELETE', '/v1/pools/bravo'],
    ['drift', 'POST', '/v1/pools/bravo/drift'],
    ['reconcile', 'POST', '/v1/pools/bravo/reconcile'],
  ]
  for (const [what, method, url, body] of rest) {
    const res = await call('red', method, url, body)
    t.equal(res.statusCode, 404, `${what}: ${res.body}`)
    t.equal(res.json().code, 'POOL_NOT_FOUND', what)
    t.equal(res.json().message, 'No pool named "bravo"', what)
  }
  const mutations: [string, string][] = [
    ['resizePool', 'mutation { resizePool(name: "bravo", size: 3) { pool { name } } }'],
    ['renew', `mutation { resizePool(name: "bravo", expiresAt: "${new Date(Date.now() + 3_600_000).toISOString()}") { pool { name } } }`],
    ['refreshPool', 'mutation { refreshPool(name: "bravo") { pool { name } } }'],
    ['recomposePool', 'mutation { recomposePool(name: "bravo") { pool { name } } }'],
    ['stripPool', 'mutation { stripPool(name: "bravo") { pool { name } } }'],
  ]
  for (const [what, query] of mutations) {
    const res = await gql('red', query)
    t.equal(res.errors?.[0]?.extensions?.code, 'POOL_NOT_FOUND', `${what}: ${JSON.stringify(res.errors)}`)
  }
  t.same(await state(), before, 'pool records, deployments, clones, events and VMs unchanged')
  // The owner's pool is still idle: nothing was started that would keep it busy.
  const renewed = await call('blue', 'PATCH', '/v1/pools/bravo', { expiresAt: new Date(Date.now() + 7_200_000).toISOString() })
  t.equal(renewed.statusCode, 200, renewed.body)
  t.equal(renewed.json().pool.team, 'blue')
})

t.test('pool names are global: another team\'s name or numbers are a conflict that names neither its pool nor its team', async (t) => {
  const before = await state()
  const taken = await call('red', 'POST', '/v1/pools', { name: 'bravo', parent: PARENT, prefix: 'Rz', size: 1 })
  t.equal(taken.statusCode, 409, taken.body)
  t.equal(taken.json().code, 'NAME_CONFLICT')
  t.notMatch(taken.body, /blue/, 'the owning team is not named')
  const numbers = await call('red', 'POST', '/v1/pools', { name: 'charlie', parent: PARENT, prefix: 'Bx', startNumber: 2, size: 1 })
  t.equal(numbers.statusCode, 409, numbers.body)
  t.equal(numbers.json().code, 'NAME_CONFLICT')
  t.notMatch(numbers.body, /blue|bravo/, "another team's pool is neither named nor its team")
  // The owner's team is told which of its pools it is.
  const ownNumbers = await call('blue', 'POST', '/v1/pools', { name: 'charlie', parent: PARENT, prefix: 'Bx', startNumber: 2, size: 1 })
  t.equal(ownNumbers.statusCode, 409)
  t.match(ownNumbers.json().message, /"bravo"/)
  t.same(await state(), before)
})

t.test('owners, callers of both teams and admin act; events carry the pool\'s team, also for the service\'s own work', async (t) => {
  // Concurrent: blue grows its pool while red tries to strip it (refused before the pool's lock, so
  // blue is never told its pool is busy) and red grows its own.
  const [grow, redGrow, ...strips] = await Promise.all([
    call('blue', 'PATCH', '/v1/pools/bravo', { size: 3 }),
    call('red', 'PATCH', '/v1/pools/alpha', { size: 3 }),
    ...Array.from({ length: 4 }, () => call('red', 'DELETE', '/v1/pools/bravo')),
  ])
  t.equal(grow!.statusCode, 202, grow!.body)
  t.equal(redGrow!.statusCode, 202, redGrow!.body)
  for (const s of strips) t.equal(s.json().code, 'POOL_NOT_FOUND')
  t.equal((await waitForDeployment(service, grow!.json().deploymentId)).status, 'succeeded')
  t.equal((await waitForDeployment(service, redGrow!.json().deploymentId)).status, 'succeeded')
  t.same((await call('blue', 'GET', '/v1/pools/bravo')).json().clones.map((c: { name: string }) => c.name), ['Bx01', 'Bx02', 'Bx03'])

  // Drift on red's pool, found by admin; the event is red's.
  const alpha = (await call('red', 'GET', '/v1/pools/alpha')).json()
  await vc.tasks.watch(await vc.powerOffVM({ type: 'VirtualMachine', value: alpha.clones[0].moref }))
  const drift = await call('admin', 'POST', '/v1/pools/alpha/drift')
  t.equal(drift.statusCode, 200, drift.body)
  t.equal(drift.json().drift.status, 'found')
  const driftEvent = (await sql(`SELECT team FROM webhook_events WHERE type = 'pool.drift_found' AND payload->'data'->>'pool' = 'alpha'`)).rows
  t.same(driftEvent, [{ team: 'red' }])

  // A caller of both teams repairs it; the deployment is the pool's team's.
  const reconcile = await call('both', 'POST', '/v1/pools/alpha/reconcile')
  t.equal(reconcile.statusCode, 202, reconcile.body)
  t.equal((await waitForDeployment(service, reconcile.json().deploymentId)).status, 'succeeded')
  const repaired = (await sql('SELECT team, requester FROM deployments WHERE id = $1', [reconcile.json().deploymentId])).rows
  t.same(repaired, [{ team: 'red', requester: 'bea' }])

  // A reader of red's team sees but cannot change.
  t.equal((await call('reader', 'GET', '/v1/pools/alpha')).statusCode, 200)
  t.equal((await call('reader', 'DELETE', '/v1/pools/alpha')).statusCode, 403)

  // Admin strips blue's pool (GraphQL); the event and the deployment are blue's.
  const stripped = await gql('admin', 'mutation { stripPool(name: "bravo") { pool { name status team } deployments { id } } }')
  t.same(stripped.data?.stripPool.pool, { name: 'bravo', status: 'STRIPPED', team: 'blue' }, JSON.stringify(stripped.errors))
  const stripId = stripped.data!.stripPool.deployments[0].id
  t.equal((await waitForDeployment(service, stripId)).status, 'succeeded')
  t.same((await sql('SELECT team, requester FROM deployments WHERE id = $1', [stripId])).rows, [{ team: 'blue', requester: 'root' }])
  t.same((await sql(`SELECT team FROM webhook_events WHERE type = 'pool.stripped'`)).rows, [{ team: 'blue' }])
  t.notOk((await vms()).some((v) => v.startsWith('Bx')), "blue's clones are gone")

  // The expiry (the service itself) strips red's pool in red's team.
  const renew = await call('red', 'PATCH', '/v1/pools/alpha', { expiresAt: new Date(Date.now() + 3_600_000).toISOString() })
  t.equal(renew.statusCode, 200, renew.body)
  t.equal(await service.app.pools.expire('alpha', new Date(Date.now() + 7_200_000)), 'stripped')
  t.same((await sql(`SELECT team FROM webhook_events WHERE type = 'pool.expired'`)).rows, [{ team: 'red' }])
  const expiry = (await sql(`SELECT id, team, requester FROM deployments WHERE kind = 'strip' AND pool_name = 'alpha'`)).rows
  t.same(expiry.map((d) => ({ team: d.team, requester: d.requester })), [{ team: 'red', requester: 'expiry' }])
  t.equal((await waitForDeployment(service, expiry[0].id)).status, 'succeeded')

  // Stripped pools stay their teams' own: red sees its stripped pool, not blue's.
  t.same((await call('red', 'GET', '/v1/pools')).json().pools.map((p: { name: string; status: string }) => `${p.name}:${p.status}`), ['alpha:stripped'])
  t.equal((await call('red', 'GET', '/v1/pools/bravo')).statusCode, 404)
})
