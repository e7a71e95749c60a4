/**
 * Every refusal of the API: its status, its stable code, a message a person understands, and
 * nothing made in vCenter or recorded in the database.
 */
import { readdir, readFile } from 'node:fs/promises'
import { createSigner } from 'fast-jwt'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { serviceErrorCodes } from '../../src/errors.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { freePort } from '../../src/db/embedded.js'
import { startTestService, type TestService } from '../helpers/service.js'

let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())

const MUTATING = ['CloneVM_Task', 'CustomizeVM_Task', 'PowerOnVM_Task', 'SetField', 'setCustomValue', 'AddCustomFieldDef']

/** Asserts that nothing was changed in vCenter nor recorded since the last reset. */
async function assertNothingChanged(t: Test) {
  const stats = await service.sim.stats()
  for (const method of MUTATING) t.notOk(stats.methods[method]?.count, `no ${method} was called`)
  const { rows } = await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  t.equal(rows[0].n, 0, 'no deployment was recorded')
  const jobs = await service.app.database.pool.query('SELECT count(*)::int AS n FROM pgboss.job')
  t.equal(jobs.rows[0].n, 0, 'no job was queued')
}

function post(payload: unknown, headers: Record<string, string> = service.auth()) {
  return service.app.inject({ method: 'POST', url: '/v1/deployments', headers, payload: payload as object })
}

t.beforeEach(() => service.sim.resetStats())

t.test('vCenter refusals', async (t) => {
  const cases: [string, object, number, string, RegExp][] = [
    ['unknown parent', { parent: 'Tmpl Nothing 1.0', count: 2, startNumber: 1 }, 404, 'PARENT_NOT_FOUND', /Tmpl Nothing 1\.0/],
    ['parent without snapshot', { parent: 'Tmpl NoSnap 1.0', count: 2, startNumber: 1 }, 422, 'SNAPSHOT_MISSING', /no current snapshot/],
    ['spec named by the parent is missing', { parent: 'Tmpl NoSpec 1.0', count: 2, startNumber: 1 }, 422, 'CUSTOMIZATION_SPEC_NOT_FOUND', /"Missing Spec"/],
    [
      'attribute naming the spec is empty',
      { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 1, customizationAttribute: 'Role Spec' },
      422,
      'CUSTOMIZATION_SPEC_NOT_FOUND',
      /no value in its "Role Spec" attribute/,
    ],
  ]
  for (const [what, payload, status, code, message] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, status, what)
    t.equal(res.json().code, code, what)
    t.match(res.json().message, message, what)
  }
  await assertNothingChanged(t)
})

t.test('409 NAME_CONFLICT lists every planned name that exists', async (t) => {
  const res = await post({ parent: 'Tmpl Capture 1.0', count: 3, startNumber: 98 })
  t.equal(res.statusCode, 409)
  const body = res.json()
  t.equal(body.code, 'NAME_CONFLICT')
  t.same(body.details.names, ['Capture99'])
  t.match(body.message, /Capture99/)
  await assertNothingChanged(t)
})

t.test('400 VALIDATION_FAILED for malformed input', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['missing parent', { count: 1, startNumber: 1 }, /parent/],
    ['missing count', { parent: 'Tmpl Capture 1.0', startNumber: 1 }, /count/],
    ['count as a string', { parent: 'Tmpl Capture 1.0', count: '25', startNumber: 1 }, /count.*integer/],
    ['count zero', { parent: 'Tmpl Capture 1.0', count: 0, startNumber: 1 }, /count.*>= 1/],
    ['count 2001', { parent: 'Tmpl Capture 1.0', count: 2001, startNumber: 1 }, /count.*<= 2000/],
    ['fractional count', { parent: 'Tmpl Capture 1.0', count: 2.5, startNumber: 1 }, /count.*integer/],
    ['negative start', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: -1 }, /startNumber/],
    ['unknown field', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, cout: 3 }, /additional properties/],
    ['attributes not a list', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, attributes: 'Project' }, /attributes/],
    ['parent too long', { parent: 'x'.repeat(81), count: 1, startNumber: 1 }, /parent/],
    ['prefix too long for names', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, prefix: 'p'.repeat(79) }, /81 characters/],
    ['prefix with control characters', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, prefix: 'Cap\u0001' }, /control characters/],
    ['prefix with a slash', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, prefix: 'a/b' }, /escapes/],
    ['a list, not an object', [1, 2], /object/],
  ]
  for (const [what, payload, message] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().code, 'VALIDATION_FAILED', what)
    t.match(res.json().message, message, what)
  }
  const malformed = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: { ...service.auth(), 'content-type': 'application/json' },
    payload: '{"parent": "Tmpl Capture 1.0", "count": ',
  })
  t.equal(malformed.statusCode, 400)
  t.has(malformed.json(), { code: 'VALIDATION_FAILED', message: 'The request is not valid: the body is not valid JSON' })
  const text = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: { ...service.auth(), 'content-type': 'text/plain' },
    payload: 'deploy please',
  })
  t.equal(text.statusCode, 415)
  t.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  await assertNothingChanged(t)
})

t.test('401 without a valid token, 403 without the scope', async (t) => {
  const payload = { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1 }
  const sign = (options: Record<string, unknown>, claims: Record<string, unknown> = { sub: 'intruder', scope: 'admin' }) =>
    createSigner({ key: service.secret, expiresIn: 60_000, ...options } as any)(claims)
  const unsigned = (claims: object) =>
    `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`

  const unauthorized: [string, Record<string, string>, RegExp][] = [
    ['no header', {}, /Authorization: Bearer/],
    ['not a bearer', { authorization: 'Basic YWxpY2U6cHc=' }, /Bearer/],
    ['garbage', { authorization: 'Bearer not.a.token' }, /malformed|not valid/],
    ['alg none', { authorization: `Bearer ${unsigned({ sub: 'intruder', scope: 'admin', exp: Date.now() / 1000 + 60 })}` }, /algorithm|not valid|malformed/],
    ['another algorithm (HS512) with the same secret', { authorization: `Bearer ${sign({ algorithm: 'HS512' })}` }, /algorithm/],
    ['another secret', { authorization: `Bearer ${createSigner({ key: 'x'.repeat(40), expiresIn: 60_000 })({ sub: 'a', scope: 'admin' })}` }, /not valid/],
    ['expired', { authorization: `Bearer ${sign({ expiresIn: undefined }, { sub: 'a', scope: 'admin', exp: Math.floor(Date.now() / 1000) - 60 })}` }, /expired/],
    ['no exp', { authorization: `Bearer ${sign({ expiresIn: undefined })}` }, /claim/],
    ['no sub', { authorization: `Bearer ${sign({}, { scope: 'admin' })}` }, /claim|sub/],
  ]
  for (const [what, headers, message] of unauthorized) {
    for (const req of [
      { method: 'POST' as const, url: '/v1/deployments', payload },
      { method: 'GET' as const, url: '/v1/clones' },
    ]) {
      const res = await service.app.inject({ ...req, headers })
      t.equal(res.statusCode, 401, `${what}: ${req.method} ${req.url}`)
      t.equal(res.json().code, 'UNAUTHORIZED', what)
      t.match(res.json().message, message, what)
    }
  }

  const readOnly = await post(payload, service.auth('deployments:read'))
  t.equal(readOnly.statusCode, 403)
  t.same(readOnly.json().details, { required: 'deployments:write' })
  t.equal(readOnly.json().code, 'FORBIDDEN')
  const noScope = await service.app.inject({ url: '/v1/clones', headers: service.auth('secrets:read') })
  t.equal(noScope.statusCode, 403)
  const admin = await service.app.inject({ url: '/v1/clones', headers: service.auth('admin') })
  t.equal(admin.statusCode, 200, 'admin holds every scope')
  await assertNothingChanged(t)
})

t.test('unknown routes and deployments', async (t) => {
  const unknown = await service.app.inject({ url: '/v1/deployments/00000000-0000-4000-8000-000000000000', headers: service.auth() })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'DEPLOYMENT_NOT_FOUND')
  const malformedId = await service.app.inject({ url: '/v1/deployments/not-a-uuid', headers: service.auth() })
  t.equal(malformedId.json().code, 'DEPLOYMENT_NOT_FOUND')
  const route = await service.app.inject({ url: '/v1/nothing' })
  t.equal(route.statusCode, 404)
  t.equal(route.json().code, 'NOT_FOUND')
})

t.test('health', async (t) => {
  t.same((await service.app.inject({ url: '/health/live' })).json(), { status: 'ok' })
  const ready = await service.app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok', checks: { database: 'ok', vcenter: 'ok' } })
})

t.test('503 VCENTER_UNAVAILABLE when vCenter cannot be reached', async (t) => {
  const port = await freePort() // nothing listens there
  const config = loadConfig({
    VCENTER_URL: `https://127.0.0.1:${port}/sdk`,
    VCENTER_USERNAME: 'u',
    VCENTER_PASSWORD: 'p',
    VCENTER_INSECURE: 'true',
    JWT_SECRET: service.secret,
    LOG_LEVEL: 'silent',
  })
  const app = await buildApp({ config, databaseUrl: service.db.url, runWorkers: false })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth(), payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1 } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'VCENTER_UNAVAILABLE')
  t.match(res.json().message, /vCenter cannot be reached/)
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable', checks: { database: 'ok', vcenter: 'unavailable' } })
  await assertNothingChanged(t)
})

t.test('openapi.yaml documents routes that exist and every error code', async (t) => {
  const doc = parseYaml(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'))
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => ({ method: method.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ':$1') })),
  )
  t.ok(documented.length >= 6)
  for (const route of documented) {
    t.ok(service.app.hasRoute(route as { method: 'GET'; url: string }), `${route.method} ${route.url} exists`)
  }
  const codes: string[] = doc.components.schemas.Error.properties.code.enum
  t.same([...codes].sort(), serviceErrorCodes().sort(), 'the Error enum is the catalogue')
})

/**
 * Codes a job records on a clone, a deployment or a preparation when it gives up (`code: '...'` in the
 * jobs' sources), besides the catalogue's.
 */
async function recordedCodes(): Promise<string[]> {
  const root = new URL('../../src/modules/', import.meta.url)
  const jobs = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('-job.ts'))
  const codes = new Set<string>()
  for (const file of jobs) for (const [, code] of (await readFile(new URL(file, root), 'utf8')).matchAll(/code: '([A-Z_]+)'/g)) codes.add(code!)
  return [...codes]
}

t.test('every code, the catalogue\'s and those jobs record, is asserted by some test', async (t) => {
  const root = new URL('../', import.meta.url)
  const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.test.ts'))
  // A line that writes a record by hand does not count: the code must be what a test expects.
  const handWritten = /\.finish\(|UPDATE |INSERT |recordStep\(|failClone\(/
  const codes = [...new Set([...serviceErrorCodes(), ...(await recordedCodes())])]
  t.ok(codes.includes('RECOMPOSE_FAILED') && codes.includes('VCENTER_FAULT'), 'the jobs\' codes are found')
  const asserted = new Set<string>()
  for (const file of files) {
    for (const line of (await readFile(new URL(file, root), 'utf8')).split('\n')) {
      if (handWritten.test(line)) continue
      for (const code of codes) if (line.includes(`'${code}'`) || line.includes(`"${code}"`)) asserted.add(code)
    }
  }
  t.same(codes.filter((code) => !asserted.has(code)).sort(), [], 'codes that no test expects')
})

t.test('every documented /v1 route wants a token and a scope: 401 without one, 403 with none of its scopes', async (t) => {
  const doc = parseYaml(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'))
  const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([path]) => path.startsWith('/v1/'))
    .flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({
        method: method.toUpperCase() as 'GET' | 'POST' | 'PATCH' | 'DELETE',
        // Any value for a path parameter: the token is checked before the route looks anything up.
        url: path.replace(/\{(\w+)\}/g, 'x'),
      })),
    )
  t.ok(routes.length >= 20, `${routes.length} routes`)
  for (const route of routes) {
    const anonymous = await service.app.inject({ ...route, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} })
    t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} without a token`)
    const unrelated = await service.app.inject({
      ...route,
      headers: service.auth('secrets:read'),
      payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
    })
    t.equal(unrelated.statusCode, 403, `${route.method} ${route.url} with secrets:read only`)
  }
  await assertNothingChanged(t)
})
