/**
 * X-Request-Id: the caller's when valid, a UUID otherwise; on every answer, in every error body and on
 * every log line of the request. CORS only for the configured origins; helmet's headers everywhere.
 */
import t from 'tap'
import { appWithLogs, startTestService, type TestService } from '../helpers/service.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let service: TestService
t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())

t.test('a valid caller id is kept: on the answer, in the error body and on every log line', async (t) => {
  const { app, lines } = await appWithLogs(service, t, { logLevel: 'info' })
  const id = 'RITM0012345:try-1.a_b'
  const res = await app.inject({ url: '/v1/deployments/00000000-0000-4000-8000-000000000000', headers: { ...service.auth('deployments:read'), 'x-request-id': id } })
  t.equal(res.statusCode, 404)
  t.equal(res.headers['x-request-id'], id)
  t.equal(res.json().requestId, id, 'the error body names the request')
  const own = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === id)
  t.ok(own.length >= 3, `incoming, the error and the answer are logged with the id (${own.length} lines)`)
  t.ok(own.some((l) => l.req) && own.some((l) => l.res), 'request and response lines carry it')
})

t.test('an invalid or missing id is replaced by a fresh UUID', async (t) => {
  const bad = ['', 'has space', 'x'.repeat(129), 'inject\nline', 'ü']
  const seen = new Set<string>()
  for (const given of [...bad, undefined]) {
    const headers: Record<string, string> = given === undefined ? {} : { 'x-request-id': given }
    const res = await service.app.inject({ url: '/v1/nowhere', headers })
    const id = res.headers['x-request-id'] as string
    t.match(id, UUID, `${JSON.stringify(given)} -> a UUID`)
    t.equal(res.json().requestId, id)
    seen.add(id)
  }
  t.equal(seen.size, bad.length + 1, 'each request its own id')
  const max = 'a'.repeat(128)
  t.equal((await service.app.inject({ url: '/health/live', headers: { 'x-request-id': max } })).headers['x-request-id'], max, '128 characters are kept')
})

t.test('errors before routing and validation errors carry the id too', async (t) => {
  const nul = await service.app.inject({ url: '/v1/pools/a%00b', headers: { ...service.auth('deployments:read'), 'x-request-id': 'nul-1' } })
  t.equal(nul.statusCode, 400)
  t.equal(nul.json().requestId, 'nul-1')
  t.equal(nul.headers['x-request-id'], 'nul-1')
  const badUrl = await service.app.inject({ url: '/v1/pools/%E0%A4%A', headers: { 'x-request-id': 'url-1' } })
  t.equal(badUrl.statusCode, 400)
  t.equal(badUrl.json().requestId, 'url-1')
  const unauth = await service.app.inject({ method: 'POST', url: '/v1/deployments', payload: {}, headers: { 'x-request-id': 'auth-1' } })
  t.equal(unauth.statusCode, 401)
  t.equal(unauth.json().requestId, 'auth-1')
})

t.test('no CORS by default; helmet headers on every answer', async (t) => {
  const res = await service.app.inject({ method: 'GET', url: '/health/live', headers: { origin: 'https://portal.example.com' } })
  t.equal(res.headers['access-control-allow-origin'], undefined, 'no origin is allowed by default')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.ok(res.headers['strict-transport-security'], 'HSTS')
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
})

t.test('CORS_ORIGINS lets the listed portals, and only them, call the API', async (t) => {
  const { app } = await appWithLogs(service, t, { env: { CORS_ORIGINS: 'https://portal.example.com, http://localhost:5173' }, logLevel: 'silent' })
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/v1/deployments',
    headers: { origin: 'https://portal.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
  })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://portal.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /idempotency-key/)
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)

  const answer = await app.inject({ url: '/v1/deployments/00000000-0000-4000-8000-000000000000', headers: { origin: 'http://localhost:5173', ...service.auth('deployments:read') } })
  t.equal(answer.headers['access-control-allow-origin'], 'http://localhost:5173')
  t.match(String(answer.headers['access-control-expose-headers']), /x-request-id/)

  const other = await app.inject({ url: '/health/live', headers: { origin: 'https://evil.example.net' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an unlisted origin gets no CORS header')
})
