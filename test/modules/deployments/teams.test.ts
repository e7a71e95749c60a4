/**
 * Teams and deployments (issue #13): each caller reads only its teams' deployments and clones, REST and
 * GraphQL alike (lists, filters, one by id, nested lists through the loaders, the progress
 * subscription); another team's answers as a missing one; admin sees all. A caller of several teams
 * names the owning team (TEAM_REQUIRED, TEAM_FORBIDDEN, refused before anything is recorded). A row
 * made before teams (team `user:<sub>`, as migration 0016 gives it) is its requester's.
 */
import t from 'tap'
import { listen, WsClient } from '../../helpers/graphql.js'
import { startTestService, type TestService } from '../../helpers/service.js'

let service: TestService
const RW = 'deployments:read deployments:write'
const red = () => service.auth(RW, 'red-user', ['red'])
const blue = () => service.auth(RW, 'blue-user', ['blue'])
const both = () => service.auth(RW, 'both-user', ['red', 'blue'])
const admin = () => service.auth('admin', 'root')
const ids: Record<'red' | 'blue', string> = { red: '', blue: '' }
const cloneNames: Record<'red' | 'blue', string> = { red: '', blue: '' }

async function deploy(headers: Record<string, string>, startNumber: number, extra: Record<string, unknown> = {}) {
  return service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers,
    payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber, ticket: 'RITM-TEAMS', ...extra },
  })
}

async function graphql(headers: Record<string, string>, query: string, variables: Record<string, unknown> = {}) {
  const res = await service.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })
  return res.json() as { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, any> }[] }
}

const rowCounts = async () => {
  const { rows } = await service.app.database.pool.query(
    'SELECT (SELECT count(*)::int FROM deployments) AS d, (SELECT count(*)::int FROM clones) AS c, (SELECT count(*)::int FROM pgboss.job) AS j',
  )
  return rows[0] as { d: number; c: number; j: number }
}

t.before(async () => {
  service = await startTestService({ runWorkers: false })
  for (const [team, headers, start] of [['red', red(), 600], ['blue', blue(), 610]] as const) {
    const res = await deploy(headers, start)
    if (res.statusCode !== 202) throw new Error(res.body)
    ids[team] = res.json().id
    cloneNames[team] = res.json().clones[0].name
  }
})
t.teardown(() => service?.stop())

t.test('a deployment belongs to its caller\'s team, shown in REST and GraphQL', async (t) => {
  const res = await service.app.inject({ url: `/v1/deployments/${ids.red}`, headers: red() })
  t.equal(res.statusCode, 200)
  t.equal(res.json().team, 'red')
  const list = await service.app.inject({ url: '/v1/deployments', headers: blue() })
  t.same(list.json().items.map((d: any) => [d.id, d.team]), [[ids.blue, 'blue']])
  const clone = await service.app.inject({ url: `/v1/clones/${cloneNames.red}`, headers: red() })
  t.equal(clone.json().team, 'red')
  const q = await graphql(red(), `query($id: ID!) { deployment(id: $id) { team clones { name team } } }`, { id: ids.red })
  t.same(q.data?.deployment, { team: 'red', clones: [{ name: cloneNames.red, team: 'red' }] })
})

t.test('a caller of several teams names the team; refused before anything is planned or recorded', async (t) => {
  const before = await rowCounts()
  const required = await deploy(both(), 620)
  t.equal(required.statusCode, 400)
  t.match(required.json(), { code: 'TEAM_REQUIRED' })
  const forbidden = await deploy(both(), 620, { team: 'green' })
  t.equal(forbidden.statusCode, 403)
  t.match(forbidden.json(), { code: 'TEAM_FORBIDDEN' })
  const single = await deploy(red(), 620, { team: 'blue' })
  t.equal(single.statusCode, 403, 'a caller of one team cannot name another')
  t.match(single.json(), { code: 'TEAM_FORBIDDEN' })
  const dryRun = await deploy(both(), 620, { dryRun: true })
  t.equal(dryRun.statusCode, 400, 'a dry run checks the team as the real request does')
  t.match(dryRun.json(), { code: 'TEAM_REQUIRED' })
  t.equal((await deploy(both(), 620, { dryRun: true, team: 'green' })).json().code, 'TEAM_FORBIDDEN')
  t.equal((await deploy(both(), 620, { dryRun: true, team: 'blue' })).statusCode, 200)
  const g = await graphql(both(), `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { id } }`, {
    input: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 620 },
  })
  t.equal(g.errors?.[0]?.extensions?.code, 'TEAM_REQUIRED')
  const gPlan = await graphql(both(), `query($input: DeployLinkedClonesInput!) { planLinkedClones(input: $input) { startNumber } }`, {
    input: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 620, team: 'green' },
  })
  t.equal(gPlan.errors?.[0]?.extensions?.code, 'TEAM_FORBIDDEN')
  t.same(await rowCounts(), before, 'no deployment, clone or job recorded')

  const ok = await graphql(both(), `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { id team } }`, {
    input: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 620, team: 'blue' },
  })
  t.equal(ok.data?.deployLinkedClones.team, 'blue', JSON.stringify(ok.errors))
  const blueList = await service.app.inject({ url: '/v1/deployments', headers: blue() })
  t.ok(blueList.json().items.some((d: any) => d.id === ok.data?.deployLinkedClones.id), "blue sees the deployment made for it by a member of both")
  const tooLong = await deploy(both(), 630, { team: 'x'.repeat(201) })
  t.equal(tooLong.statusCode, 400)
  t.match(tooLong.json(), { code: 'VALIDATION_FAILED' })
})

t.test("each caller lists only its teams' deployments and clones; admin all", async (t) => {
  const listed = async (headers: Record<string, string>, url = '/v1/deployments?ticket=RITM-TEAMS') =>
    new Set((await service.app.inject({ url, headers })).json().items.map((d: any) => d.id))
  t.same(await listed(red()), new Set([ids.red]))
  t.same(await listed(blue()), new Set([ids.blue]))
  t.same(await listed(both()), new Set([ids.red, ids.blue]))
  t.same(await listed(admin()), new Set([ids.red, ids.blue]))
  t.same(await listed(red(), '/v1/deployments?requester=blue-user'), new Set(), "a filter does not reach another team's")

  const clones = async (headers: Record<string, string>) =>
    (await service.app.inject({ url: '/v1/clones?prefix=Capture6', headers })).json().clones.map((c: any) => c.name)
  t.same(await clones(red()), [cloneNames.red])
  t.same(await clones(admin()), [cloneNames.red, cloneNames.blue, 'Capture620'])

  const g = await graphql(red(), `{ deployments(filter: { ticket: "RITM-TEAMS" }) { totalCount edges { node { id team } } }
    clones(filter: { prefix: "Capture6" }) { totalCount edges { node { name team deployment { id } } } } }`)
  t.same(g.data?.deployments, { totalCount: 1, edges: [{ node: { id: ids.red, team: 'red' } }] })
  t.same(g.data?.clones, { totalCount: 1, edges: [{ node: { name: cloneNames.red, team: 'red', deployment: { id: ids.red } } }] })

  // Nested lists go through the loaders, which read only the caller's teams' rows.
  const parents = await graphql(red(), `{ parents { nodes { name clones { nodes { name } } } } }`)
  const capture = parents.data?.parents.nodes.find((p: any) => p.name === 'Tmpl Capture 1.0')
  t.same(capture?.clones.nodes.map((c: any) => c.name), [cloneNames.red], JSON.stringify(parents.errors))
  const adminParents = await graphql(admin(), `{ parents { nodes { name clones { nodes { name } } } } }`)
  t.same(adminParents.data?.parents.nodes.find((p: any) => p.name === 'Tmpl Capture 1.0')?.clones.nodes.map((c: any) => c.name), [cloneNames.red, cloneNames.blue, 'Capture620'])
})

t.test('deployments filtered by their team, within the teams the caller sees', async (t) => {
  const listed = async (headers: Record<string, string>, team: string) =>
    new Set((await service.app.inject({ url: `/v1/deployments?ticket=RITM-TEAMS&team=${team}`, headers })).json().items.map((d: any) => d.id))
  t.same(await listed(admin(), 'red'), new Set([ids.red]), 'admin: one team of all')
  t.same(await listed(both(), 'blue'), new Set([ids.blue]), 'a caller of both teams: one of them')
  t.same(await listed(red(), 'blue'), new Set(), "another team's name finds nothing (not an error)")
  const bad = await service.app.inject({ url: `/v1/deployments?team=${'x'.repeat(201)}`, headers: admin() })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION_FAILED')

  const g = await graphql(admin(), `{ deployments(filter: { ticket: "RITM-TEAMS", team: "blue" }) { totalCount edges { node { id team } } } }`)
  t.same(g.data?.deployments, { totalCount: 1, edges: [{ node: { id: ids.blue, team: 'blue' } }] }, JSON.stringify(g.errors))
  const foreign = await graphql(red(), `{ deployments(filter: { team: "blue" }) { totalCount } }`)
  t.same(foreign.data?.deployments, { totalCount: 0 })
})

t.test("another team's deployment or clone is 404, exactly as a missing one", async (t) => {
  const missingId = '6f1c1c8e-6a2f-4a35-9d55-4c7c1d3c0a11'
  const other = await service.app.inject({ url: `/v1/deployments/${ids.blue}`, headers: red() })
  const missing = await service.app.inject({ url: `/v1/deployments/${missingId}`, headers: red() })
  t.equal(other.statusCode, 404)
  t.equal(other.json().code, 'DEPLOYMENT_NOT_FOUND')
  t.equal(other.json().message, missing.json().message.replace(missingId, ids.blue), 'the same message')
  t.same(Object.keys(other.json()).sort(), Object.keys(missing.json()).sort())
  t.equal((await service.app.inject({ url: `/v1/deployments/${ids.blue}`, headers: admin() })).statusCode, 200, 'admin sees it')
  t.equal((await service.app.inject({ url: `/v1/deployments/${ids.blue}`, headers: both() })).statusCode, 200)

  const clone = await service.app.inject({ url: `/v1/clones/${cloneNames.blue}`, headers: red() })
  t.equal(clone.statusCode, 404)
  t.equal(clone.json().code, 'CLONE_NOT_FOUND')
  const history = await service.app.inject({ url: `/v1/clones/${cloneNames.blue}/history`, headers: red() })
  t.equal(history.json().code, 'CLONE_NOT_FOUND')

  const g = await graphql(red(), `query($id: ID!) { deployment(id: $id) { id } }`, { id: ids.blue })
  t.equal(g.errors?.[0]?.extensions?.code, 'DEPLOYMENT_NOT_FOUND')
  const gm = await graphql(red(), `query($id: ID!) { deployment(id: $id) { id } }`, { id: missingId })
  t.equal(g.errors?.[0]?.message, gm.errors?.[0]?.message.replace(missingId, ids.blue))
  t.equal((await graphql(red(), `query($n: String!) { clone(name: $n) { name } }`, { n: cloneNames.blue })).errors?.[0]?.extensions?.code, 'CLONE_NOT_FOUND')
  t.equal(
    (await graphql(red(), `query($n: String!) { cloneHistory(name: $n) { totalCount } }`, { n: cloneNames.blue })).errors?.[0]?.extensions?.code,
    'CLONE_NOT_FOUND',
  )
})

t.test("the progress subscription refuses another team's deployment as a missing one", async (t) => {
  const url = await listen(service.app)
  const client = await WsClient.connect(url)
  t.teardown(() => client.close())
  client.send({ type: 'connection_init', payload: { authorization: `Bearer ${service.token('deployments:read', 'red-user', { groups: ['red'] })}` } })
  await client.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  const query = `subscription($id: ID!) { deploymentProgress(id: $id) { kind deploymentId } }`
  client.send({ type: 'subscribe', id: 'other', payload: { query, variables: { id: ids.blue } } })
  const messages = await client.until((m) => m.some((x) => x.id === 'other' && x.type === 'error'), 10_000)
  t.notOk(messages.some((m) => m.id === 'other' && m.type === 'next'), 'no event of it')
  t.equal(messages.find((m) => m.id === 'other' && m.type === 'error')!.payload[0].extensions.code, 'DEPLOYMENT_NOT_FOUND')
  client.send({ type: 'subscribe', id: 'own', payload: { query, variables: { id: ids.red } } })
  const own = await client.until((m) => m.some((x) => x.id === 'own' && x.type === 'next'), 10_000)
  t.match(own.find((m) => m.id === 'own' && m.type === 'next')!.payload.data.deploymentProgress, { kind: 'SNAPSHOT', deploymentId: ids.red })
})

t.test("a deployment recorded before teams (team user:<sub>) is its requester's personal team's", async (t) => {
  const pool = service.app.database.pool
  const columns = (
    await pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'deployments' AND column_name NOT IN ('id', 'team', 'requester')`)
  ).rows.map((r) => `"${r.column_name}"`)
  const legacyId = '0b7a3f52-1e3c-4f0e-9a55-2a1d5c6e7f80'
  await pool.query(
    `INSERT INTO deployments (id, team, requester, ${columns.join(', ')}) SELECT $1, 'user:legacy-user', 'legacy-user', ${columns.join(', ')} FROM deployments WHERE id = $2`,
    [legacyId, ids.red],
  )
  const personal = await service.app.inject({ url: `/v1/deployments/${legacyId}`, headers: service.auth('deployments:read', 'legacy-user') })
  t.equal(personal.statusCode, 200, 'a token without a teams claim is in user:<sub>')
  t.equal(personal.json().team, 'user:legacy-user')
  const listed = await service.app.inject({ url: '/v1/deployments', headers: service.auth('deployments:read', 'legacy-user') })
  t.same(listed.json().items.map((d: any) => d.id), [legacyId])
  t.equal((await service.app.inject({ url: `/v1/deployments/${legacyId}`, headers: service.auth('deployments:read', 'someone-else') })).statusCode, 404)
  t.equal((await service.app.inject({ url: `/v1/deployments/${legacyId}`, headers: red() })).statusCode, 404)
})
