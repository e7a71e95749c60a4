/**
 * The rate limit per caller: RATE_LIMIT_MAX requests per window for each token's sub (a caller without
 * a valid token: its IP), then 429 RATE_LIMITED in the service's error shape with Retry-After. Another
 * sub is not limited by the first one's requests; health, the contract and the page are never limited.
 */
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { isRateLimited } from '../../src/http/rate-limit.js'
import { startTestService, type TestService } from '../helpers/service.js'

const MAX = 3
let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false, env: { RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_SECONDS: '3600' } })
})
t.teardown(() => service?.stop())

const list = (sub: string) => service.app.inject({ method: 'GET', url: '/v1/deployments', headers: service.auth('deployments:read', sub) })

t.test('after RATE_LIMIT_MAX requests a sub gets 429 RATE_LIMITED with Retry-After; another sub is not limited', async (t) => {
  for (let i = 0; i < MAX; i++) t.equal((await list('busy-portal')).statusCode, 200, `request ${i + 1} of ${MAX}`)
  const refused = await list('busy-portal')
  t.equal(refused.statusCode, 429, refused.body)
  const body = refused.json()
  t.equal(body.code, 'RATE_LIMITED')
  t.match(body.message, /Too many requests from this caller; retry after \d+ seconds/)
  t.equal(body.requestId, refused.headers['x-request-id'])
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 3600, `Retry-After: ${refused.headers['retry-after']}`)
  t.equal(body.details.retryAfterSeconds, retryAfter)
  t.equal(body.details.limit, MAX)

  // Another token of the same sub is the same caller.
  const sameSub = await service.app.inject({ method: 'GET', url: '/v1/deployments', headers: service.auth('deployments:read deployments:write', 'busy-portal') })
  t.equal(sameSub.statusCode, 429, 'counted per sub, not per token')
  // GraphQL counts toward the same limit, and answers in its own shape (as its 401).
  const graphql = await service.app.inject({ method: 'POST', url: '/graphql', headers: service.auth('deployments:read', 'busy-portal'), payload: { query: '{ deployments { totalCount } }' } })
  t.equal(graphql.statusCode, 429)
  t.match(graphql.json(), { data: null, errors: [{ message: /Too many requests/, extensions: { code: 'RATE_LIMITED', details: { limit: MAX } } }] })
  t.ok(Number(graphql.headers['retry-after']) > 0, 'with Retry-After')

  const other = await list('quiet-script')
  t.equal(other.statusCode, 200, 'another sub still answered')
})

t.test('a write refused by the limit changes nothing', async (t) => {
  for (let i = 0; i < MAX; i++) await list('writer')
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/pools',
    headers: service.auth(undefined, 'writer'),
    payload: { name: 'Limited pool', parent: 'Tmpl Packaging 1.0', size: 1 },
  })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'RATE_LIMITED')
  const { rows } = await service.app.database.pool.query('SELECT count(*)::int AS n FROM pools')
  t.equal(rows[0].n, 0, 'no pool recorded')
})

t.test('a caller without a valid token is counted by its address', async (t) => {
  const statuses: number[] = []
  for (let i = 0; i <= MAX; i++) statuses.push((await service.app.inject({ method: 'GET', url: '/v1/deployments' })).statusCode)
  t.same(statuses, [...Array(MAX).fill(401), 429])
  const withToken = await list('fresh-caller')
  t.equal(withToken.statusCode, 200, 'a caller with a token is counted on its own')
})

t.test('health, the contract and the page are not limited', async (t) => {
  for (let i = 0; i < MAX * 3; i++) {
    t.equal((await service.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
    t.equal((await service.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 200)
  }
  t.notOk(isRateLimited('/health/ready'))
  t.notOk(isRateLimited('/metrics'))
  t.notOk(isRateLimited('/docs/static/index.html'))
  t.notOk(isRateLimited('/ui/app.js'))
  t.notOk(isRateLimited('/graphql/schema.graphql'))
  t.ok(isRateLimited('/graphql?query={clones{totalCount}}'))
  t.ok(isRateLimited('/v1/pools/x'))
})

t.test('RATE_LIMIT_MAX: default 1,200 per minute, 0 turns the limit off', async (t) => {
  const base = { VCENTER_URL: 'https://vc.example.com/sdk', VCENTER_USERNAME: 'u', VCENTER_PASSWORD: 'p', JWT_SECRET: 'x'.repeat(32) }
  t.same(loadConfig(base).rateLimit, { max: 1200, windowSeconds: 60 })
  t.same(loadConfig({ ...base, RATE_LIMIT_MAX: '0', RATE_LIMIT_WINDOW_SECONDS: '10' }).rateLimit, { max: 0, windowSeconds: 10 })
  t.throws(() => loadConfig({ ...base, RATE_LIMIT_MAX: '-1' }), { name: 'ConfigError' })
  t.throws(() => loadConfig({ ...base, RATE_LIMIT_WINDOW_SECONDS: '0' }), { name: 'ConfigError' })
})
