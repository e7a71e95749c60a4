/**
 * GET /v1/clones/{name}/history in pages, newest first with a cursor: a recent change is on the first
 * page however many reveals came before it, and reading page after page gives every entry once.
 */
import t from 'tap'
import { generateKey } from '../../../src/domain/secrets.js'
import { gql } from '../../helpers/graphql.js'
import { startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

let service: TestService
/** The callers of this file (its deployer, the ticket bot, the readers) are in one team. */
const LAB = ['lab']

t.before(async () => {
  service = await startTestService({ env: { SECRETS_KEY: generateKey() } })
  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write', 'portal-user', LAB),
    payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1 },
  })
  if (post.statusCode !== 202) throw new Error(post.body)
  const done = await waitForDeployment(service, post.json().id)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
})
t.teardown(() => service?.stop())

const READ = 'deployments:read'
const SECRETS = 'deployments:read secrets:read'

function get(url: string, scope = READ, sub = 'portal-user') {
  return service.app.inject({ method: 'GET', url, headers: service.auth(scope, sub, LAB) })
}

async function setRole(value: string) {
  const res = await service.app.inject({
    method: 'PATCH',
    url: '/v1/clones/Capture01/attributes',
    headers: service.auth('deployments:read deployments:write', 'ticket-bot', LAB),
    payload: { attributes: { Role: value } },
  })
  if (res.statusCode !== 200) throw new Error(res.body)
}

/** The clone's whole history as recorded, newest first, as REST spells an entry's identity. */
async function recorded(): Promise<string[]> {
  const { rows } = await service.app.database.pool.query(
    `SELECT h.at, h.event, h.name, h.actor FROM attribute_history h JOIN clones c ON c.id = h.clone_id
      WHERE c.name = 'Capture01' ORDER BY h.seq DESC`,
  )
  return rows.map((r) => key({ ...r, at: (r.at as Date).toISOString() }))
}

const key = (e: { at: string; event: string; name: string | null; actor: string }) => JSON.stringify([e.at, e.event, e.name, e.actor])

/** Every page from the first, following nextCursor. */
async function readAll(limit: number, scope = READ, sub = 'portal-user') {
  const pages: { entries: any[]; nextCursor: string | null }[] = []
  let cursor: string | null = null
  do {
    const res = await get(`/v1/clones/Capture01/history?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, scope, sub)
    if (res.statusCode !== 200) throw new Error(res.body)
    const page = res.json()
    pages.push(page)
    cursor = page.nextCursor
    if (pages.length > 100) throw new Error('no end to the pages')
  } while (cursor)
  return pages
}

t.test('a recent change is on the first page, however many reveals came before it', async (t) => {
  for (let i = 1; i <= 5; i++) await setRole(`Role ${i}`)
  // Each read with secrets:read records a reveal of every secret it shows.
  const statuses = new Set<number>()
  for (let i = 0; i < 60; i++) statuses.add((await get('/v1/clones/Capture01', SECRETS, 'auditor')).statusCode)
  t.same([...statuses], [200])
  const { rows } = await service.app.database.pool.query(`SELECT count(*)::int AS n FROM attribute_history WHERE event = 'reveal'`)
  t.ok(rows[0].n >= 100, `${rows[0].n} reveals`)
  await setRole('Latest')

  const first = await get('/v1/clones/Capture01/history')
  t.equal(first.statusCode, 200, first.statusCode === 200 ? 'read' : first.body)
  const page = first.json()
  t.equal(page.clone, 'Capture01')
  t.equal(page.entries.length, 100, 'a page of 100 by default')
  t.match(page.entries[0], { event: 'set', source: 'user', actor: 'ticket-bot', name: 'Role', oldValue: 'Role 5', newValue: 'Latest' }, 'the latest change first')
  t.type(page.nextCursor, 'string', 'older entries on a next page')
  t.match(page.nextCursor, /^[A-Za-z0-9_-]+$/, 'an opaque base64url cursor')
})

t.test('page after page: newest first, no entry twice, none missing', async (t) => {
  const all = await recorded()
  t.ok(all.length > 3 * 7, `${all.length} entries`)
  const pages = await readAll(7)
  t.equal(pages.length, Math.ceil(all.length / 7))
  t.ok(pages.slice(0, -1).every((p) => p.entries.length === 7 && p.nextCursor !== null))
  t.equal(pages.at(-1)!.nextCursor, null, 'the last page says so')
  const seen = pages.flatMap((p) => p.entries.map(key))
  t.equal(new Set(seen).size, seen.length, 'no entry twice')
  t.same(seen, all, 'every entry, newest first')
  const times = pages.flatMap((p) => p.entries.map((e: { at: string }) => e.at))
  t.ok(times.every((at, i) => i === 0 || at <= times[i - 1]!), 'newest first')
  t.match(pages[0]!.entries[0], { name: 'Role', newValue: 'Latest' })
  t.match(pages.at(-1)!.entries.at(-1), { event: 'set', source: 'deployment' }, 'the deployment copied the first values')

  // Read with secrets:read, each page records reveals: newer than the cursor, they do not shift the pages.
  const revealing = await readAll(7, SECRETS, 'pager')
  t.same(revealing.flatMap((p) => p.entries.map(key)), all, 'the same entries, once each')
  t.ok((await recorded()).length > all.length, 'the reads were recorded as reveals')
})

t.test('GraphQL cloneHistory pages the same way: newest first, from the same entries', async (t) => {
  const all = await recorded()
  const seen: string[] = []
  let after: string | null = null
  do {
    const res: any = await gql(
      service,
      `query($after: String) { cloneHistory(name: "Capture01", first: 9, after: $after) {
         pageInfo { hasNextPage endCursor } nodes { at event name actor } } }`,
      { after },
      READ,
      'portal-user',
      LAB,
    )
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    const { nodes, pageInfo } = res.body.data.cloneHistory
    seen.push(...nodes.map((n: any) => key({ ...n, event: n.event.toLowerCase() })))
    after = pageInfo.hasNextPage ? pageInfo.endCursor : null
  } while (after && seen.length <= all.length)
  t.same(seen, all, 'every entry once, newest first, as REST')
})

t.test('refusals', async (t) => {
  for (const [query, what] of [
    ['limit=0', 'limit below 1'],
    ['limit=1001', 'limit above 1000'],
    ['limit=x', 'limit not a number'],
    ['cursor=bogus', 'not a cursor'],
    [`cursor=${Buffer.from(JSON.stringify(['-1'])).toString('base64url')}`, 'a negative seq'],
    ['cursor=%2B%2F', 'not base64url'],
    ['other=1', 'an unknown parameter'],
  ] as [string, string][]) {
    const res = await get(`/v1/clones/Capture01/history?${query}`)
    t.equal(res.statusCode, 400, res.statusCode === 400 ? what : `${what}: ${res.body}`)
    t.equal(res.json().code, 'VALIDATION_FAILED', what)
  }
  t.equal((await get('/v1/clones/Nobody01/history?limit=5')).json().code, 'CLONE_NOT_FOUND')
})
