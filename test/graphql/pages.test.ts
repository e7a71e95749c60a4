/**
 * Every GraphQL list pages as REST's lists do (issue #16): `limit` and `cursor`, answering `nextCursor`
 * (null on the last page). Each list is followed page by page to the end, through both APIs, and gives
 * the same items in the same order; a REST cursor continues a GraphQL list and back. limit 0 or 1001
 * and a cursor this API did not give are VALIDATION_FAILED (the REST code, naming the argument); no
 * page of one team's caller holds another team's object.
 */
import t from 'tap'
import { gql } from '../helpers/graphql.js'
import { startTestService, waitForDeployment, type TestService } from '../helpers/service.js'

let service: TestService
const RW = 'deployments:read deployments:write'
const RED = { sub: 'red-user', teams: ['red'] }
const BLUE = { sub: 'blue-user', teams: ['blue'] }
const CAPTURE = 'Tmpl Capture 1.0'
type Caller = { sub: string; teams: string[] } | 'admin'

async function post(caller: Caller, url: string, payload: Record<string, unknown>): Promise<string> {
  const headers = caller === 'admin' ? service.auth('admin', 'root') : service.auth(RW, caller.sub, caller.teams)
  const res = await service.app.inject({ method: 'POST', url, headers, payload })
  if (res.statusCode !== 202) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
  return res.json().id ?? res.json().deploymentId
}

t.before(async () => {
  service = await startTestService()
  const started = [
    await post(RED, '/v1/deployments', { parent: CAPTURE, prefix: 'Pgr', count: 5 }),
    await post(BLUE, '/v1/deployments', { parent: CAPTURE, prefix: 'Pgb', count: 2 }),
    await post(RED, '/v1/pools', { name: 'pg-c', parent: CAPTURE, prefix: 'Pgpc', size: 1 }),
    await post(RED, '/v1/pools', { name: 'pg-a', parent: CAPTURE, prefix: 'Pgpa', size: 1 }),
    await post(RED, '/v1/pools', { name: 'pg-b', parent: CAPTURE, prefix: 'Pgpb', size: 1 }),
    await post(BLUE, '/v1/pools', { name: 'pg-blue', parent: CAPTURE, prefix: 'Pgpz', size: 1 }),
  ]
  for (const id of started) await waitForDeployment(service, id)
  await service.app.audit.settled()
})
t.teardown(() => service?.stop())

const gqlAs = (caller: Caller, query: string, variables: Record<string, unknown> = {}) =>
  caller === 'admin' ? gql(service, query, variables, 'admin', 'root') : gql(service, query, variables, RW, caller.sub, caller.teams)

/** Follows a GraphQL list's nextCursor to the end; `at` picks the connection out of `data`. */
async function gqlPages(
  t: Pick<typeof import('tap').default, 'equal'>,
  caller: Caller,
  query: string,
  at: (data: any) => { nodes: any[]; nextCursor: string | null },
  key: (node: any) => string,
  variables: Record<string, unknown> = {},
): Promise<{ pages: string[][]; cursors: (string | null)[] }> {
  const pages: string[][] = []
  const cursors: (string | null)[] = []
  let cursor: string | null = null
  do {
    const res = await gqlAs(caller, query, { ...variables, cursor })
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    const connection = at(res.body.data)
    pages.push(connection.nodes.map(key))
    cursors.push(connection.nextCursor)
    cursor = connection.nextCursor
  } while (cursor !== null && pages.length < 50)
  return { pages, cursors }
}

/** Follows a REST list's nextCursor to the end. */
async function restPages(caller: Caller, url: string, items: string, key: (item: any) => string) {
  const pages: string[][] = []
  const cursors: (string | null)[] = []
  let cursor: string | null = null
  do {
    const headers = caller === 'admin' ? service.auth('admin', 'root') : service.auth(RW, caller.sub, caller.teams)
    const res: Awaited<ReturnType<TestService["app"]["inject"]>> = await service.app.inject({ url: cursor ? `${url}&cursor=${cursor}` : url, headers })
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    pages.push(res.json()[items].map(key))
    cursors.push(res.json().nextCursor)
    cursor = res.json().nextCursor
  } while (cursor !== null && pages.length < 50)
  return { pages, cursors }
}

const LISTS = [
  {
    name: 'deployments',
    caller: RED,
    query: `query($cursor: String) { deployments(limit: 2, cursor: $cursor) { nodes { id team } nextCursor } }`,
    at: (d: any) => d.deployments,
    key: (n: any) => n.id,
    rest: ['/v1/deployments?limit=2', 'items', (i: any) => i.id] as const,
  },
  {
    name: 'clones',
    caller: RED,
    query: `query($cursor: String) { clones(limit: 2, cursor: $cursor, filter: { prefix: "Pg" }) { nodes { name team } nextCursor } }`,
    at: (d: any) => d.clones,
    key: (n: any) => n.name,
    rest: ['/v1/clones?prefix=Pg&limit=2', 'clones', (i: any) => i.name] as const,
  },
  {
    name: 'pools',
    caller: RED,
    query: `query($cursor: String) { pools(limit: 2, cursor: $cursor) { nodes { name team } nextCursor } }`,
    at: (d: any) => d.pools,
    key: (n: any) => n.name,
    rest: ['/v1/pools?limit=2', 'pools', (i: any) => i.name] as const,
  },
  {
    name: 'auditEvents',
    caller: 'admin' as const,
    query: `query($cursor: String) { auditEvents(limit: 2, cursor: $cursor, filter: { sub: "red-user" }) { nodes { id } nextCursor } }`,
    at: (d: any) => d.auditEvents,
    key: (n: any) => n.id,
    rest: ['/v1/audit?sub=red-user&limit=2', 'items', (i: any) => String(i.id)] as const,
  },
  {
    name: 'cloneHistory',
    caller: RED,
    query: `query($cursor: String) { cloneHistory(name: "Pgr01", limit: 3, cursor: $cursor) { nodes { at name } nextCursor } }`,
    at: (d: any) => d.cloneHistory,
    key: (n: any) => `${n.at}/${n.name}`,
    rest: ['/v1/clones/Pgr01/history?limit=3', 'entries', (i: any) => `${i.at}/${i.name}`] as const,
  },
]

for (const list of LISTS) {
  t.test(`${list.name}: page by page to the end, the items and cursors of REST`, async (t) => {
    const graph = await gqlPages(t, list.caller, list.query, list.at, list.key)
    const [url, items, key] = list.rest
    const rest = await restPages(list.caller, url, items, key)
    t.ok(graph.pages.length >= 2, `several pages (${graph.pages.length})`)
    t.same(graph.pages, rest.pages, 'the same items, in the same order, on the same pages')
    t.same(graph.cursors, rest.cursors, 'the same cursors')
    t.equal(graph.cursors.at(-1), null, 'null on the last page')
    t.equal(new Set(graph.pages.flat()).size, graph.pages.flat().length, 'no item twice')

    // A REST cursor continues the GraphQL list, and the other way round.
    const fromRest = await gqlAs(list.caller, list.query, { cursor: rest.cursors[0] })
    t.same(list.at(fromRest.body.data).nodes.map(list.key), rest.pages[1])
    const headers = list.caller === 'admin' ? service.auth('admin', 'root') : service.auth(RW, list.caller.sub, list.caller.teams)
    const fromGraph = await service.app.inject({ url: `${url}&cursor=${graph.cursors[0]}`, headers })
    t.same(fromGraph.json()[items].map(key), graph.pages[1])
  })
}

t.test("parents and a parent's clones: paged by name, the clones with the clones list's cursors", async (t) => {
  const all = await gqlAs(RED, `{ parents(limit: 1000) { nodes { name } nextCursor totalCount } }`)
  const names = all.body.data!.parents.nodes.map((p: any) => p.name)
  t.same(names, [...names].sort(), 'by name')
  t.equal(all.body.data!.parents.nextCursor, null)
  t.equal(all.body.data!.parents.totalCount, names.length)
  const paged = await gqlPages(t, RED, `query($cursor: String) { parents(limit: 2, cursor: $cursor) { nodes { name } nextCursor } }`, (d) => d.parents, (p) => p.name)
  t.ok(paged.pages.length >= 3)
  t.same(paged.pages.flat(), names, 'the pages hold every parent once, in order')

  // A parent's clones, red's only, page by page; the same pages as the clones list filtered by parent.
  const nested = await gqlPages(
    t,
    RED,
    `query($cursor: String) { parents(limit: 1000) { nodes { name clones(limit: 2, cursor: $cursor) { nodes { name team } nextCursor } } } }`,
    (d) => d.parents.nodes.find((p: any) => p.name === CAPTURE).clones,
    (c) => `${c.name}:${c.team}`,
  )
  const flat = await gqlPages(
    t,
    RED,
    `query($cursor: String) { clones(limit: 2, cursor: $cursor, filter: { parent: "${CAPTURE}" }) { nodes { name team } nextCursor } }`,
    (d) => d.clones,
    (c) => `${c.name}:${c.team}`,
  )
  t.same(nested.pages, flat.pages)
  t.same(nested.cursors, flat.cursors)
  t.ok(nested.pages.flat().every((c) => c.endsWith(':red')), "red's clones only")
  t.ok(nested.pages.flat().length >= 8, 'five clones and three pools')
})

t.test("another team's objects never appear in a page", async (t) => {
  const lists = [
    ['deployments', `query($cursor: String) { deployments(limit: 1, cursor: $cursor) { nodes { team } nextCursor } }`],
    ['clones', `query($cursor: String) { clones(limit: 1, cursor: $cursor) { nodes { team } nextCursor } }`],
    ['pools', `query($cursor: String) { pools(limit: 1, cursor: $cursor) { nodes { team } nextCursor } }`],
  ] as const
  for (const [name, query] of lists) {
    for (const [caller, team] of [[RED, 'red'], [BLUE, 'blue']] as const) {
      const { pages } = await gqlPages(t, caller, query, (d) => d[name], (n) => n.team)
      t.ok(pages.flat().length >= (team === 'red' ? 2 : 1), `${name} as ${team}: pages of one item each`)
      t.same([...new Set(pages.flat())], [team], `${name} as ${team}: its team's only`)
    }
  }
  const adminPools = await gqlPages(t, 'admin', `query($cursor: String) { pools(limit: 3, cursor: $cursor) { nodes { name } nextCursor } }`, (d) => d.pools, (p) => p.name)
  t.same(adminPools.pages.flat(), ['pg-a', 'pg-b', 'pg-blue', 'pg-c'], 'admin: every team')
  const filtered = await gqlAs('admin', `{ pools(filter: { parent: "${CAPTURE}", status: ACTIVE }, limit: 10) { nodes { name } } }`)
  t.equal(filtered.body.data!.pools.nodes.length, 4, 'the filter keeps the active pools of the parent')
})

t.test('limit 0 or 1001 and a foreign cursor: VALIDATION_FAILED, as REST answers them', async (t) => {
  const fields = [
    'deployments(LIMIT) { nextCursor }',
    'clones(LIMIT) { nextCursor }',
    'pools(LIMIT) { nextCursor }',
    'parents(LIMIT) { nextCursor }',
    'cloneHistory(name: "Pgr01", LIMIT) { nextCursor }',
    'clone(name: "Pgr01") { history(LIMIT) { nextCursor } }',
    'parents(limit: 1) { nodes { clones(LIMIT) { nextCursor } } }',
  ]
  const badCursor = Buffer.from('not a cursor').toString('base64url')
  for (const field of fields) {
    for (const [args, detail] of [['limit: 0', 'limit'], ['limit: 1001', 'limit'], [`cursor: "${badCursor}"`, 'cursor'], ['first: 0', 'first']] as const) {
      const res = await gqlAs(RED, `{ ${field.replace('LIMIT', args)} }`)
      const error = res.body.errors?.[0]
      t.equal(error?.extensions?.code, 'VALIDATION_FAILED', `${field} with ${args}`)
      t.equal(error?.extensions?.details?.field, detail, `${field} with ${args}: names the argument`)
    }
  }
  const admin = await gqlAs('admin', `{ auditEvents(cursor: "${badCursor}") { nextCursor } }`)
  t.equal(admin.body.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED')

  // The message REST gives for the same cursor.
  const rest = await service.app.inject({ url: `/v1/clones?cursor=${badCursor}`, headers: service.auth(RW, RED.sub, RED.teams) })
  const graph = await gqlAs(RED, `{ clones(cursor: "${badCursor}") { nextCursor } }`)
  t.equal(rest.json().code, 'VALIDATION_FAILED')
  t.match(graph.body.errors?.[0]?.message, rest.json().message)
  // A cursor of another list (the right shape, the wrong key) is refused too, not an internal error.
  const poolCursor = Buffer.from(JSON.stringify(['pg-a', 'x'])).toString('base64url')
  const foreign = await gqlAs(RED, `{ clones(cursor: "${poolCursor}") { nextCursor } }`)
  t.equal(foreign.body.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED')
})

t.test('first and after still work (deprecated aliases of limit and cursor)', async (t) => {
  const page = await gqlAs(RED, `{ clones(first: 2, filter: { prefix: "Pgr" }) { nodes { name } nextCursor pageInfo { hasNextPage endCursor } } }`)
  const { nodes, nextCursor, pageInfo } = page.body.data!.clones
  t.same(nodes.map((n: any) => n.name), ['Pgr01', 'Pgr02'])
  t.equal(pageInfo.endCursor, nextCursor)
  const next = await gqlAs(RED, `query($after: String) { clones(first: 2, after: $after, filter: { prefix: "Pgr" }) { nodes { name } } }`, { after: nextCursor })
  t.same(next.body.data!.clones.nodes.map((n: any) => n.name), ['Pgr03', 'Pgr04'])
  const last = await gqlAs(RED, `{ clones(limit: 5, filter: { prefix: "Pgr" }) { nextCursor pageInfo { hasNextPage endCursor } } }`)
  t.same(last.body.data!.clones.nextCursor, null, 'exactly one page: no next')
  t.equal(last.body.data!.clones.pageInfo.hasNextPage, false)
  t.type(last.body.data!.clones.pageInfo.endCursor, 'string', "pageInfo.endCursor: the last edge's, as before")
})
