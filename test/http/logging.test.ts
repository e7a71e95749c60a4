/**
 * The service's own logger (as server.ts builds it) writes no secret: not a query string's filter value,
 * not the token, not a password nested in a body or an error's details.
 */
import t from 'tap'
import { appWithLogs, startTestService, type TestService } from '../helpers/service.js'

let service: TestService
t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())

t.test('requests are logged by path and route, without their query, token or secret-named fields', async (t) => {
  const { app, lines } = await appWithLogs(service, t)
  const token = service.token('deployments:read')
  const listed = await app.inject({ url: '/v1/clones?attribute=Admin%20Password:hunter2&prefix=Capture', headers: { authorization: `Bearer ${token}` } })
  t.not(listed.statusCode, 500)
  await app.inject({ url: '/v1/pools/room-1', headers: { authorization: `Bearer ${token}` } })

  t.ok(lines.length >= 4, `${lines.length} log lines`)
  const all = lines.join('\n')
  t.notOk(all.includes('hunter2'), 'a filter value in the query string is in no log line')
  t.notOk(all.includes(token), 'the token is in no log line')
  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.req)
  t.ok(requests.length >= 2, 'incoming requests are logged')
  t.ok(requests.some((l) => l.req.path === '/v1/clones' && l.req.route === '/v1/clones'), 'by path and route')
  t.ok(requests.some((l) => l.req.path === '/v1/pools/room-1' && l.req.route === '/v1/pools/:name'), 'a parameterised route by its pattern')
  t.ok(requests.every((l) => !('url' in l.req)), 'no raw URL')

  // A nested secret-named field, as an error's details or a plugin's object could carry it.
  app.log.info({ details: { login: { password: 'pw-nested-1', secret: 's-2' }, jwt: 'j-3' } }, 'nested')
  const nested = lines.at(-1) ?? ''
  for (const value of ['pw-nested-1', 's-2', 'j-3']) t.notOk(nested.includes(value), `${value} redacted`)
})
