/**
 * Bad input at the edge gets a documented 4xx, never a 500, and changes nothing: NUL characters in a
 * path, query, body, GraphQL string or token `sub`; a method a path does not answer (405 with Allow,
 * QUERY without a Content-Type included); a malformed %-escape; a JSON body that is not an object.
 */
import t, { type Test } from 'tap'
import { startTestService, type TestService } from '../helpers/service.js'

let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())
t.beforeEach(() => service.sim.resetStats())

const MUTATING = ['CloneVM_Task', 'CustomizeVM_Task', 'PowerOnVM_Task', 'SetField', 'setCustomValue', 'CreateSnapshot_Task', 'PowerOffVM_Task']

async function assertNothingChanged(t: Test) {
  const stats = await service.sim.stats()
  for (const method of MUTATING) t.notOk(stats.methods[method]?.count, `no ${method} was called`)
  const counts = await service.app.database.pool.query(
    `SELECT (SELECT count(*) FROM deployments)::int AS deployments, (SELECT count(*) FROM pools)::int AS pools,
            (SELECT count(*) FROM pgboss.job)::int AS jobs`,
  )
  t.same(counts.rows[0], { deployments: 0, pools: 0, jobs: 0 }, 'nothing recorded or queued')
}

const json = () => ({ ...service.auth(), 'content-type': 'application/json' })

t.test('a NUL character anywhere is 400 VALIDATION_FAILED, not a 500', async (t) => {
  const cases: { what: string; method: 'GET' | 'POST'; url: string; payload?: string; path?: string }[] = [
    { what: 'in a path', method: 'GET', url: '/v1/clones/Tmpl%00Capture' },
    { what: 'in a query', method: 'GET', url: '/v1/clones?prefix=%00' },
    { what: 'lower-case escape', method: 'GET', url: '/v1/pools/a%00' },
    {
      what: 'in a body array',
      method: 'POST',
      url: '/v1/deployments',
      payload: '{"parent":"Tmpl Capture 1.0","count":1,"startNumber":1,"attributes":["\\u0000"]}',
      path: 'body/attributes/0',
    },
    { what: 'in a parent name', method: 'POST', url: '/v1/deployments', payload: '{"parent":"Tmpl\\u0000Capture 1.0","count":1,"startNumber":1}', path: 'body/parent' },
    {
      what: 'in a pool name',
      method: 'POST',
      url: '/v1/pools',
      payload: '{"name":"room\\u0000","parent":"Tmpl Capture 1.0","startNumber":1,"size":1}',
      path: 'body/name',
    },
  ]
  for (const c of cases) {
    const res = await service.app.inject({ method: c.method, url: c.url, headers: c.payload ? json() : service.auth(), payload: c.payload })
    t.equal(res.statusCode, 400, c.what)
    t.equal(res.json().code, 'VALIDATION_FAILED', c.what)
    t.match(res.json().message, /NUL character/, c.what)
    if (c.path) t.equal(res.json().details.issues[0].path, c.path, `${c.what}: names where`)
  }
  // A body that merely mentions the escape, escaped itself, is not refused for it.
  const escaped = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: json(),
    payload: '{"parent":"Tmpl Nothing 1.0","count":1,"startNumber":1,"ticket":"RITM \\\\u0000"}',
  })
  t.equal(escaped.statusCode, 404, `a backslash followed by u0000 is text, not NUL: ${escaped.body}`)
  t.equal(escaped.json().code, 'PARENT_NOT_FOUND')
  await assertNothingChanged(t)
})

t.test('a token whose sub holds NUL is 401', async (t) => {
  const res = await service.app.inject({ method: 'GET', url: '/v1/pools', headers: { authorization: `Bearer ${service.token('deployments:read', 'a\u0000b')}` } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'UNAUTHORIZED')
  t.match(res.json().message, /"sub" claim contains a NUL character/)
})

t.test('GraphQL: NUL in a string literal or a variable is refused before anything runs', async (t) => {
  const literal = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: json(),
    payload: JSON.stringify({ query: '{ clone(name: "a\\u0000b") { name } }' }),
  })
  t.equal(literal.statusCode, 400)
  t.same(literal.json().errors.map((e: { extensions: { code: string } }) => e.extensions.code), ['GRAPHQL_VALIDATION_FAILED'])
  const variable = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: json(),
    payload: JSON.stringify({ query: 'query ($n: String!) { clone(name: $n) { name } }', variables: { n: 'a\u0000b' } }),
  })
  t.equal(variable.statusCode, 400)
  t.equal(variable.json().errors[0].extensions.code, 'VALIDATION_FAILED')
})

t.test('a method a path does not answer is 405 with Allow; an unknown path is 404', async (t) => {
  const cases: { method: string; url: string; allow: string; headers?: Record<string, string> }[] = [
    { method: 'QUERY', url: '/health/live', allow: 'GET, HEAD' },
    { method: 'QUERY', url: '/v1/pools', allow: 'GET, HEAD, POST', headers: service.auth() },
    { method: 'TRACE', url: '/v1/pools', allow: 'GET, HEAD, POST', headers: service.auth() },
    { method: 'PUT', url: '/v1/deployments', allow: 'GET, HEAD, POST', headers: service.auth() },
    { method: 'DELETE', url: '/health/ready', allow: 'GET, HEAD' },
  ]
  for (const c of cases) {
    const res = await service.app.inject({ method: c.method as 'GET', url: c.url, headers: c.headers })
    t.equal(res.statusCode, 405, `${c.method} ${c.url}`)
    t.equal(res.headers.allow, c.allow, `${c.method} ${c.url}: Allow`)
    t.equal(res.json().code, 'METHOD_NOT_ALLOWED')
  }
  const unknown = await service.app.inject({ method: 'QUERY' as 'GET', url: '/v1/nothing-here' })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'NOT_FOUND')
  await assertNothingChanged(t)
})

t.test('a malformed %-escape is 400 in the documented shape', async (t) => {
  const res = await service.app.inject({ method: 'GET', url: '/v1/clones/%zz', headers: service.auth() })
  t.equal(res.statusCode, 400)
  t.has(res.json(), { code: 'VALIDATION_FAILED', message: 'The request is not valid: the URL has a malformed %-escape', details: { field: 'url' } })
})

t.test('a JSON body that is not an object is refused; null is not "no body"', async (t) => {
  for (const [url, payload] of [
    ['/v1/pools/room/refresh', 'null'],
    ['/v1/pools', '5'],
    ['/v1/deployments', '"text"'],
  ] as const) {
    const res = await service.app.inject({ method: 'POST', url, headers: json(), payload })
    t.equal(res.statusCode, 400, `${payload} to ${url}`)
    t.equal(res.json().code, 'VALIDATION_FAILED')
    t.match(res.json().message, /must be a JSON object/)
  }
  await assertNothingChanged(t)
})

t.test('a body over the limit is 413 PAYLOAD_TOO_LARGE, as the contract documents for every operation with a body', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const { parse } = await import('yaml')
  const doc = parse(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'))
  const payload = JSON.stringify({ parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, ticket: 'x'.repeat(300 * 1024) })
  const res = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: json(), payload })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'PAYLOAD_TOO_LARGE')
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(ops)) {
      if (op?.requestBody) t.ok(op.responses['413'], `${method.toUpperCase()} ${path} documents 413`)
    }
  }
  await assertNothingChanged(t)
})
