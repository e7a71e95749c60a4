/**
 * Clone lists are ordered by the clone's number within its prefix (Capture2 before Capture10), paged
 * by keyset cursors on (prefix, number, name, id), and served from clones_list_order_idx (every team's)
 * or clones_team_list_order_idx (one team's): the plan of
 * the list with a prefix filter over a few thousand clones is an index scan, not a Seq Scan and a Sort.
 * The clones are records inserted directly (names without zero padding, which the service never makes).
 */
import t from 'tap'
import pg from 'pg'
import { encodeCursor } from '../../../src/http/pagination.js'
import { cloneCursorKey, parseCloneCursorKey } from '../../../src/domain/clone-order.js'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

let service: TestService
let sql: pg.Client
t.before(async () => {
  service = await startTestService()
  sql = new pg.Client({ connectionString: service.db.url })
  await sql.connect()
})
t.teardown(async () => {
  await sql?.end()
  await service?.stop()
})

t.test('cursor keys: made and parsed back; foreign ones refused', async (t) => {
  const id = '0d6c1a53-4a86-4b6f-9a0e-3c1a7e6f0b11'
  const key = cloneCursorKey({ namePrefix: 'Capture', nameNumber: 10, name: 'Capture10', id })
  t.same(parseCloneCursorKey(key), { prefix: 'Capture', number: 10, name: 'Capture10', id })
  t.same(parseCloneCursorKey(cloneCursorKey({ namePrefix: 'Lab', nameNumber: null, name: 'Lab', id }))?.number, null)
  t.equal(parseCloneCursorKey(['Capture10', id]), undefined, 'the former (name, id) key')
  t.equal(parseCloneCursorKey(['Capture', 'x', 'Capture10', id]), undefined)
  t.equal(parseCloneCursorKey(['Other', '10', 'Capture10', id]), undefined, 'a name outside its prefix')
  t.equal(parseCloneCursorKey(['Capture', '10', 'Capture10', 'not-a-uuid']), undefined)
})

t.test('Capture1..Capture12 page by 5 in numeric order; an old cursor is VALIDATION_FAILED', async (t) => {
  const deploy = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write'),
    payload: { parent: 'Tmpl Capture 1.0', prefix: 'Seed', count: 1 },
  })
  t.equal(deploy.statusCode, 202, deploy.body)
  const deploymentId = deploy.json().id as string
  await waitForDeployment(service, deploymentId)
  // Inserted in a shuffled order: the list's order is not the insertion order.
  await sql.query(
    `INSERT INTO clones (deployment_id, name, team, number, status, instance_uuid)
     SELECT $1, 'Capture' || n, 'user:portal-user', n, 'ready', gen_random_uuid() FROM unnest($2::int[]) AS n`,
    [deploymentId, [7, 12, 1, 10, 3, 11, 2, 9, 4, 8, 6, 5]],
  )
  const { rows } = await sql.query(`SELECT name_prefix, name_number FROM clones WHERE name IN ('Capture12', 'Seed01')`)
  t.same(rows.map((r) => [r.name_prefix, r.name_number]).sort(), [['Capture', 12], ['Seed', 1]], 'prefix and number computed by PostgreSQL')

  const pages: string[][] = []
  let url: string | undefined = '/v1/clones?prefix=Capture&limit=5'
  while (url && pages.length < 5) {
    const res: { statusCode: number; body: string; json(): any } = await service.app.inject({ url, headers: service.auth('deployments:read') })
    t.equal(res.statusCode, 200, res.body)
    const body: { clones: { name: string }[]; nextCursor: string | null } = res.json()
    pages.push(body.clones.map((c) => c.name))
    url = body.nextCursor ? `/v1/clones?prefix=Capture&limit=5&cursor=${body.nextCursor}` : undefined
  }
  t.same(pages, [
    ['Capture1', 'Capture2', 'Capture3', 'Capture4', 'Capture5'],
    ['Capture6', 'Capture7', 'Capture8', 'Capture9', 'Capture10'],
    ['Capture11', 'Capture12'],
  ])

  const all = await service.app.inject({ url: '/v1/clones?limit=3', headers: service.auth('deployments:read') })
  t.same(all.json().clones.map((c: { name: string }) => c.name), ['Capture1', 'Capture2', 'Capture3'], 'without a prefix too')

  // The same order where GraphQL pages (the service's read behind Query.clones).
  const attributes = service.app.assets.attributes
  const filter = attributes.cloneFilter({ prefix: 'Cap', teams: ['user:portal-user'] })
  const first = await attributes.pageClones(filter, 5)
  const next = await attributes.pageClones(filter, 5, cloneCursorKey(first.at(-1)!))
  t.same([...first, ...next].map((c) => c.name), pages.slice(0, 2).flat())

  const old = encodeCursor(['Capture5', first[4]!.id])
  const refused = await service.app.inject({ url: `/v1/clones?prefix=Capture&cursor=${old}`, headers: service.auth('deployments:read') })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().code, 'VALIDATION_FAILED', 'a cursor of the former (name, id) order')
  await t.rejects(attributes.pageClones(filter, 5, ['Capture5', first[4]!.id]), { code: 'VALIDATION_FAILED' })
})

t.test('the list with a prefix over thousands of clones is read in order from an index', async (t) => {
  const { rows } = await sql.query(`SELECT deployment_id FROM clones LIMIT 1`)
  await sql.query(
    `INSERT INTO clones (deployment_id, name, team, number, status, instance_uuid)
     SELECT $1, p || g, 'team-' || (g % 2), g, 'ready', gen_random_uuid()
     FROM unnest(ARRAY['Filler', 'Lab', 'Zeta']) AS p, generate_series(1, CASE p WHEN 'Lab' THEN 3000 ELSE 1500 END) AS g`,
    [rows[0].deployment_id],
  )
  await sql.query('ANALYZE clones')
  const repository = service.app.repositories.clones
  for (const [what, query] of [
    ['every team', repository.listQuery({ prefix: 'Lab', limit: 101 })],
    ['one team', repository.listQuery({ prefix: 'Lab', limit: 101 }, { teams: ['team-1'] })],
    ['a later page', repository.listQuery({ prefix: 'Lab', limit: 101, after: { prefix: 'Lab', number: 10, name: 'Lab10', id: rows[0].deployment_id } })],
  ] as const) {
    const { sql: text, params } = query.toSQL()
    const plan = (await sql.query(`EXPLAIN ${text}`, params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n')
    t.match(plan, /Index Scan using clones_(team_)?list_order_idx/, `${what}: ${plan}`)
    t.notMatch(plan, /Seq Scan on clones/, what)
    t.notMatch(plan, /Sort/, what)
  }
})
