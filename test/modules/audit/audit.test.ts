/**
 * The audit of every write, against the simulator and a real PostgreSQL: REST writes and GraphQL
 * mutations, accepted or refused, each recorded once answered with who, which team and scope, what,
 * the outcome, the request id and the ticket; GET /v1/audit and auditEvents for admins only, filtered
 * and in cursor pages; the table refuses changes; a failed audit write fails no request.
 */
import t from 'tap'
import { appWithLogs, startTestService, type TestService } from '../../helpers/service.js'
import { gql } from '../../helpers/graphql.js'

const PARENT = 'Tmpl Capture 1.0'
let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())

/** The audit row of a request, once written (after the answer: it is waited for, not timed). */
async function auditOf(requestId: string): Promise<Record<string, any>> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const { rows } = await service.app.database.pool.query('SELECT * FROM audit_events WHERE request_id = $1', [requestId])
    if (rows.length > 0) {
      if (rows.length > 1) throw new Error(`${rows.length} audit rows for ${requestId}`)
      return rows[0]
    }
    if (Date.now() > deadline) throw new Error(`no audit row for ${requestId}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const admin = () => service.auth('admin', 'auditor')

t.test('a REST write is recorded with every field', async (t) => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/pools',
    headers: { ...service.auth(), 'x-request-id': 'audit-rest-1' },
    payload: { name: 'audited', parent: PARENT, prefix: 'Audited', startNumber: 1, size: 1, ticket: 'RITM0000001' },
  })
  t.equal(res.statusCode, 202, res.body)
  const row = await auditOf('audit-rest-1')
  t.match(row, {
    sub: 'portal-user',
    team: 'user:portal-user',
    scope: 'deployments:write',
    operation: 'POST /v1/pools',
    object_type: 'pool',
    object_id: 'audited',
    outcome: 'succeeded',
    status_code: 202,
    error_code: null,
    request_id: 'audit-rest-1',
    ticket: 'RITM0000001',
  })
  t.ok(row.at instanceof Date)

  // A route with its object in the path: the pattern, and the name from the path.
  const changed = await service.app.inject({
    method: 'PATCH',
    url: '/v1/pools/audited',
    headers: { ...service.auth(), 'x-request-id': 'audit-rest-2' },
    payload: { size: 2 },
  })
  t.match(await auditOf('audit-rest-2'), {
    operation: 'PATCH /v1/pools/{name}',
    object_type: 'pool',
    object_id: 'audited',
    status_code: changed.statusCode,
    outcome: changed.statusCode < 300 ? 'succeeded' : 'failed',
    error_code: changed.statusCode < 300 ? null : changed.json().code,
  })
})

t.test('a GraphQL mutation is recorded with every field', async (t) => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth(undefined, 'gql-user', ['team-a']), 'x-request-id': 'audit-gql-1' },
    payload: {
      query: 'mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { id } }',
      variables: { input: { parent: PARENT, count: 1, prefix: 'Gqlaudit', startNumber: 1, ticket: 'RITM0000002' } },
    },
  })
  t.equal(res.statusCode, 200, res.body)
  const id = res.json().data.deployLinkedClones.id
  t.match(await auditOf('audit-gql-1'), {
    sub: 'gql-user',
    team: 'team-a',
    scope: 'deployments:write',
    operation: 'mutation deployLinkedClones',
    object_type: 'deployment',
    object_id: id,
    outcome: 'succeeded',
    status_code: 200,
    error_code: null,
    ticket: 'RITM0000002',
  })

  // A query is no write: nothing recorded.
  const read = await service.app.inject({ method: 'POST', url: '/graphql', headers: { ...service.auth(), 'x-request-id': 'audit-gql-read' }, payload: { query: '{ pools { nodes { name } } }' } })
  t.equal(read.statusCode, 200)
  // A later write, once recorded, shows the query's turn has passed.
  await service.app.inject({ method: 'DELETE', url: '/v1/pools/nothing-here', headers: { ...service.auth(), 'x-request-id': 'audit-after-read' } })
  await auditOf('audit-after-read')
  const { rows } = await service.app.database.pool.query("SELECT count(*)::int AS n FROM audit_events WHERE request_id = 'audit-gql-read'")
  t.equal(rows[0].n, 0, 'a query is not recorded')
})

t.test('refused writes are recorded as refused: 403 with the sub, 401 without one', async (t) => {
  const forbidden = await service.app.inject({
    method: 'POST',
    url: '/v1/pools/audited/refresh',
    headers: { ...service.auth('deployments:read', 'reader'), 'x-request-id': 'audit-403' },
    payload: { ticket: 'RITM0000003' },
  })
  t.equal(forbidden.statusCode, 403)
  t.match(await auditOf('audit-403'), {
    sub: 'reader',
    team: 'user:reader',
    scope: 'deployments:write',
    operation: 'POST /v1/pools/{name}/refresh',
    object_type: 'pool',
    object_id: 'audited',
    outcome: 'refused',
    status_code: 403,
    error_code: 'FORBIDDEN',
    // Refused before its body is read (the scope is checked first): its ticket is not known.
    ticket: null,
  })

  const anonymous = await service.app.inject({ method: 'DELETE', url: '/v1/pools/audited', headers: { 'x-request-id': 'audit-401' } })
  t.equal(anonymous.statusCode, 401)
  t.match(await auditOf('audit-401'), { sub: null, team: null, outcome: 'refused', status_code: 401, error_code: 'UNAUTHORIZED', operation: 'DELETE /v1/pools/{name}' })

  const gqlForbidden = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth('deployments:read', 'reader'), 'x-request-id': 'audit-gql-403' },
    payload: { query: 'mutation { stripPool(name: "audited") { pool { name } } }' },
  })
  t.equal(gqlForbidden.statusCode, 403)
  t.match(await auditOf('audit-gql-403'), { sub: 'reader', operation: 'mutation stripPool', object_type: 'pool', object_id: 'audited', outcome: 'refused', status_code: 403, error_code: 'FORBIDDEN' })

  const gqlAnonymous = await service.app.inject({ method: 'POST', url: '/graphql', headers: { 'x-request-id': 'audit-gql-401' }, payload: { query: 'mutation { stripPool(name: "audited") { pool { name } } }' } })
  t.equal(gqlAnonymous.statusCode, 401)
  t.match(await auditOf('audit-gql-401'), { sub: null, outcome: 'refused', status_code: 401, error_code: 'UNAUTHORIZED' })

  const invalid = await service.app.inject({ method: 'POST', url: '/v1/pools', headers: { ...service.auth(), 'x-request-id': 'audit-400' }, payload: { name: 'x' } })
  t.equal(invalid.statusCode, 400)
  t.match(await auditOf('audit-400'), { sub: 'portal-user', outcome: 'failed', status_code: 400, error_code: 'VALIDATION_FAILED' })
})

t.test('GET /v1/audit and auditEvents: admins only', async (t) => {
  for (const scope of ['deployments:read deployments:write parents:write secrets:read secrets:write', 'metrics:read']) {
    const res = await service.app.inject({ method: 'GET', url: '/v1/audit', headers: service.auth(scope) })
    t.equal(res.statusCode, 403, scope)
    t.equal(res.json().code, 'FORBIDDEN')
    const graphql = await gql(service, '{ auditEvents { totalCount } }', {}, scope)
    t.equal(graphql.statusCode, 403)
    t.equal(graphql.body.errors![0]!.extensions!.code, 'FORBIDDEN')
  }
  t.equal((await service.app.inject({ method: 'GET', url: '/v1/audit' })).statusCode, 401)
  t.equal((await service.app.inject({ method: 'GET', url: '/v1/audit', headers: admin() })).statusCode, 200)
})

t.test('filters and cursor pages, REST and GraphQL', async (t) => {
  // Five writes of one sub, refused (no scope): nothing changes but the audit.
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const requestId = `audit-page-${i}`
    ids.push(requestId)
    await service.app.inject({ method: 'DELETE', url: `/v1/pools/page-${i}`, headers: { ...service.auth('deployments:read', 'pager'), 'x-request-id': requestId } })
    await auditOf(requestId)
  }
  const seen: string[] = []
  let url: string | undefined = '/v1/audit?sub=pager&limit=2'
  let pages = 0
  while (url) {
    const res = await service.app.inject({ method: 'GET', url, headers: admin() })
    t.equal(res.statusCode, 200, res.body)
    const body = res.json()
    t.ok(body.items.length <= 2)
    for (const item of body.items) {
      t.equal(item.sub, 'pager')
      t.equal(item.outcome, 'refused')
      seen.push(item.requestId)
    }
    pages += 1
    const link = res.headers.link as string | undefined
    if (body.nextCursor) {
      t.match(link, /^<\/v1\/audit\?.*cursor=.*>; rel="next"$/)
      t.match(link, /sub=pager/)
      url = /^<([^>]+)>/.exec(link!)![1]
    } else {
      t.notOk(link, 'no Link on the last page')
      url = undefined
    }
  }
  t.equal(pages, 3)
  t.same(seen, [...ids].reverse(), 'newest first, each once')

  const byObject = await service.app.inject({ method: 'GET', url: '/v1/audit?objectType=pool&objectId=page-3', headers: admin() })
  t.same(byObject.json().items.map((i: any) => i.requestId), ['audit-page-3'])
  const byTeam = await service.app.inject({ method: 'GET', url: '/v1/audit?team=user%3Apager&limit=1000', headers: admin() })
  t.equal(byTeam.json().items.length, 5)

  const at = new Date((await auditOf('audit-page-2')).at)
  const since = await service.app.inject({ method: 'GET', url: `/v1/audit?sub=pager&since=${encodeURIComponent(at.toISOString())}`, headers: admin() })
  t.ok(since.json().items.every((i: any) => new Date(i.at) >= at))
  t.ok(since.json().items.some((i: any) => i.requestId === 'audit-page-4'))
  const until = await service.app.inject({ method: 'GET', url: `/v1/audit?sub=pager&until=${encodeURIComponent(at.toISOString())}`, headers: admin() })
  t.ok(until.json().items.every((i: any) => new Date(i.at) < at))
  t.ok(until.json().items.some((i: any) => i.requestId === 'audit-page-0'))

  const badCursor = await service.app.inject({ method: 'GET', url: `/v1/audit?cursor=${Buffer.from('["x","y"]').toString('base64url')}`, headers: admin() })
  t.equal(badCursor.statusCode, 400)
  t.equal(badCursor.json().code, 'VALIDATION_FAILED')
  const badDate = await service.app.inject({ method: 'GET', url: '/v1/audit?since=yesterday', headers: admin() })
  t.equal(badDate.statusCode, 400)
  t.equal(badDate.json().code, 'VALIDATION_FAILED')

  // GraphQL: the same list, in first/after pages.
  const QUERY = `query($after: String) { auditEvents(filter: { sub: "pager" }, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { sub operation objectType objectId outcome statusCode errorCode requestId scope team }
  } }`
  const graphqlSeen: string[] = []
  let after: string | null = null
  for (;;) {
    const res = await gql(service, QUERY, { after }, 'admin', 'auditor')
    t.equal(res.statusCode, 200, JSON.stringify(res.body))
    const connection: any = res.body.data!.auditEvents
    t.equal(connection.totalCount, 5)
    for (const node of connection.nodes) {
      t.match(node, { sub: 'pager', operation: 'DELETE /v1/pools/{name}', objectType: 'pool', outcome: 'REFUSED', statusCode: 403, errorCode: 'FORBIDDEN', scope: 'deployments:write', team: 'user:pager' })
      graphqlSeen.push(node.requestId)
    }
    if (!connection.pageInfo.hasNextPage) break
    after = connection.pageInfo.endCursor
  }
  t.same(graphqlSeen, seen, 'GraphQL pages as REST does')
})

t.test('the database refuses to change or delete audit events', async (t) => {
  const { pool } = service.app.database
  await t.rejects(pool.query("UPDATE audit_events SET outcome = 'succeeded'"), { code: '23001' })
  await t.rejects(pool.query('DELETE FROM audit_events'), { code: '23001' })
  await t.rejects(pool.query('TRUNCATE audit_events'), { code: '23001' })
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM audit_events WHERE outcome = 'refused'")
  t.ok(rows[0].n > 0, 'the rows are still there')
})

t.test('a failed audit write fails no request: the answer is sent, the failure logged', async (t) => {
  const { app, lines } = await appWithLogs(service, t, { logLevel: 'error', env: { RATE_LIMIT_MAX: '0' } })
  await app.ready()
  const { pool } = service.app.database
  // The database refuses every audit row for a while (a real failure, not a mock).
  await pool.query(`CREATE FUNCTION refuse_audit_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit is down'; END $$ LANGUAGE plpgsql`)
  await pool.query('CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit_insert()')
  t.teardown(async () => {
    await pool.query('DROP TRIGGER IF EXISTS audit_down ON audit_events')
    await pool.query('DROP FUNCTION IF EXISTS refuse_audit_insert()')
  })
  const res = await app.inject({
    method: 'POST',
    url: '/v1/pools',
    headers: { ...service.auth(), 'x-request-id': 'audit-down-1' },
    payload: { name: 'unaudited', parent: PARENT, prefix: 'Unaudited', startNumber: 1, size: 1 },
  })
  t.equal(res.statusCode, 202, 'the write is answered')
  const deadline = Date.now() + 15_000
  while (!lines.some((l) => l.includes('audit event not recorded')) && Date.now() < deadline) {
    await app.audit.settled()
    await new Promise((r) => setTimeout(r, 50))
  }
  const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'audit event not recorded')
  t.ok(logged, 'the failure is logged')
  t.match(logged, { operation: 'POST /v1/pools', requestId: 'audit-down-1' })
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM pools WHERE name = 'unaudited'")
  t.equal(rows[0].n, 1, 'the pool was made')
})

t.test('concurrent writes: each recorded once', async (t) => {
  const ids = Array.from({ length: 12 }, (_, i) => `audit-concurrent-${i}`)
  const answers = await Promise.all(
    ids.map((id, i) =>
      service.app.inject({ method: 'POST', url: `/v1/pools/busy-${i}/refresh`, headers: { ...service.auth(i % 2 ? 'deployments:read' : undefined, `c-${i}`), 'x-request-id': id }, payload: {} }),
    ),
  )
  for (const [i, id] of ids.entries()) {
    const row = await auditOf(id)
    t.equal(row.status_code, answers[i]!.statusCode, id)
    t.equal(row.sub, `c-${i}`)
    t.equal(row.outcome, i % 2 ? 'refused' : 'failed', i % 2 ? 'no scope: refused' : 'no such pool: failed')
  }
})
