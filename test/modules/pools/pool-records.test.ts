/**
 * A pool's record outlives it: a stripped pool keeps its row (requester, parent, creation time) and its
 * deployments keep pointing at it when a new pool is created under its name, a refused creation
 * changes no row, and pools and preparations are never deleted (as deployments and clones).
 */
import t from 'tap'
import { startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'

let service: TestService

t.before(async () => {
  service = await startTestService()
})
t.teardown(async () => {
  await service?.stop()
})

/** Every caller here is of one team, 'ops' (teams.test.ts has other teams' pools): who asked is the requester. */
function call(method: 'GET' | 'POST' | 'DELETE', url: string, sub: string, payload?: object) {
  return service.app.inject({ method, url, headers: service.auth(undefined, sub, ['ops']), ...(payload ? { payload } : {}) })
}

interface PoolRecord {
  id: string
  name: string
  status: string
  requester: string
  parent_name: string
  prefix: string
  created_at: string
  updated_at: string
}

async function records(name: string): Promise<PoolRecord[]> {
  const { rows } = await service.app.database.pool.query<PoolRecord>(
    `SELECT id, name, status, requester, parent_name, prefix, created_at::text, updated_at::text
       FROM pools WHERE name = $1 ORDER BY created_at`,
    [name],
  )
  return rows
}

async function deploymentsOf(poolId: string): Promise<{ id: string; kind: string; pool_name: string }[]> {
  const { rows } = await service.app.database.pool.query(
    `SELECT id, kind, pool_name FROM deployments WHERE pool_id = $1 ORDER BY created_at`,
    [poolId],
  )
  return rows
}

t.test('a new pool under a stripped pool\'s name is a new record; the old one and its deployments stay', async (t) => {
  const created = await call('POST', '/v1/pools', 'portal-user', { name: 'wave', parent: CAPTURE, prefix: 'Wave', startNumber: 1, size: 1 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(service, created.json().deploymentId)).status, 'succeeded')
  const stripped = await call('DELETE', '/v1/pools/wave', 'portal-user')
  t.equal(stripped.statusCode, 202, stripped.body)
  t.equal((await waitForDeployment(service, stripped.json().deploymentId)).status, 'succeeded')
  const [old] = await records('wave')
  t.ok(old)
  t.match(old, { status: 'stripped', requester: 'portal-user', parent_name: CAPTURE })
  const oldDeployments = await deploymentsOf(old!.id)
  t.same(
    oldDeployments.map((d) => [d.id, d.kind]),
    [
      [created.json().deploymentId, 'deploy'],
      [stripped.json().deploymentId, 'strip'],
    ],
  )

  // Refused (no such parent): no row changes, none is added.
  const refused = await call('POST', '/v1/pools', 'ticket-bot', { name: 'wave', parent: 'No Such Parent', prefix: 'Wave', startNumber: 1, size: 1 })
  t.equal(refused.statusCode, 404, refused.body)
  t.equal(refused.json().code, 'PARENT_NOT_FOUND')
  t.same(await records('wave'), [old], 'a refused creation changes no row')
  t.equal((await call('GET', '/v1/pools/wave', 'ticket-bot')).json().requester, 'portal-user', 'the stripped pool is still shown')

  // Accepted, by someone else, from another parent: a new record.
  const again = await call('POST', '/v1/pools', 'ticket-bot', { name: 'wave', parent: PACKAGING, prefix: 'Wave', startNumber: 1, size: 1 })
  t.equal(again.statusCode, 202, again.body)
  t.equal((await waitForDeployment(service, again.json().deploymentId)).status, 'succeeded')
  const both = await records('wave')
  t.equal(both.length, 2, 'two records of the name')
  t.same(both[0], old, "the stripped pool's record is untouched: requester, parent, creation time")
  t.match(both[1], { status: 'active', requester: 'ticket-bot', parent_name: PACKAGING })
  t.not(both[1]!.id, old!.id)
  t.ok(both[1]!.created_at > old!.created_at)
  t.same(await deploymentsOf(old!.id), oldDeployments, "the old pool's deployments still point at its record")
  t.same(
    (await deploymentsOf(both[1]!.id)).map((d) => [d.id, d.kind, d.pool_name]),
    [[again.json().deploymentId, 'deploy', 'wave']],
  )

  // Reads by name answer the current pool, with its own deployments only.
  const current = (await call('GET', '/v1/pools/wave', 'ticket-bot')).json()
  t.match(current, { name: 'wave', status: 'active', requester: 'ticket-bot', parent: PACKAGING })
  t.same(current.deployments.map((d: { id: string }) => d.id), [again.json().deploymentId])
  t.same(current.clones.map((c: { name: string }) => c.name), ['Wave01'])
  const listed = (await call('GET', '/v1/pools', 'ticket-bot')).json().pools.filter((p: { name: string }) => p.name === 'wave')
  t.match(listed, [{ status: 'active', requester: 'ticket-bot' }], 'listed once, as the current pool')
  const gql = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: service.auth(undefined, 'ticket-bot', ['ops']),
    payload: { query: '{ pool(name: "wave") { name status parent deployments { id } clones { name } } }' },
  })
  t.equal(gql.statusCode, 200, gql.body)
  t.same(gql.json().data.pool.deployments.map((d: { id: string }) => d.id), [again.json().deploymentId])
  t.same(gql.json().data.pool.clones.map((c: { name: string }) => c.name), ['Wave01'])

  // The name is held by one pool that is not stripped.
  const taken = await call('POST', '/v1/pools', 'lab-admin', { name: 'wave', parent: CAPTURE, prefix: 'Other', startNumber: 1, size: 1 })
  t.equal(taken.statusCode, 409, taken.body)
  t.equal(taken.json().code, 'NAME_CONFLICT')
  t.equal((await records('wave')).length, 2)
  await t.rejects(
    service.app.database.pool.query(
      `INSERT INTO pools (name, parent_name, prefix, start_number, size, requester, team) VALUES ('wave', 'x', 'X', 1, 1, 'eve', 'user:eve')`,
    ),
    /pools_current_name_idx/,
  )

  const gone = await call('DELETE', '/v1/pools/wave', 'ticket-bot')
  t.equal((await waitForDeployment(service, gone.json().deploymentId)).status, 'succeeded')
  t.match((await call('GET', '/v1/pools/wave', 'ticket-bot')).json(), { status: 'stripped', requester: 'ticket-bot' }, 'the latest stripped pool is shown')
})

t.test('pools and preparations are never deleted', async (t) => {
  const sql = (text: string) => service.app.database.pool.query(text)
  await sql(`INSERT INTO pools (name, parent_name, prefix, start_number, size, requester, team) VALUES ('kept', 'x', 'Kept', 1, 1, 'portal-user', 'user:portal-user')`)
  await sql(
    `INSERT INTO parent_preparations (parent_name, parent_moref, snapshot_name, requester, team, finished_at)
     VALUES ('x', 'vm-0', 'x 2026-01-01', 'portal-user', 'user:portal-user', now())`,
  )
  await t.rejects(sql(`DELETE FROM pools WHERE name = 'kept'`), /never deleted/)
  await t.rejects(sql(`DELETE FROM pools`), /never deleted/)
  await t.rejects(sql(`TRUNCATE pools CASCADE`), /never deleted/)
  await t.rejects(sql(`DELETE FROM parent_preparations`), /never deleted/)
  await t.rejects(sql(`TRUNCATE parent_preparations`), /never deleted/)
  t.equal((await sql(`SELECT 1 FROM pools WHERE name = 'kept'`)).rowCount, 1)
  t.equal((await sql(`SELECT 1 FROM parent_preparations WHERE parent_moref = 'vm-0'`)).rowCount, 1)
})
