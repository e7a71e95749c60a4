/**
 * /metrics scraped while a deployment runs on the lab simulator and a real PostgreSQL: the clones by
 * status, the SOAP calls, the task durations, the limiter and the queue move as the deployment does;
 * no secret, token or query string ever reaches a label; and who may read it, on which port.
 */
import t from 'tap'
import { freePort } from '../../../src/db/embedded.js'
import { appWithLogs, startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef0123456789'

let service: TestService

t.before(async () => {
  // A slow CloneVM_Task: the clones stay `cloning` long enough for a scrape to see it.
  service = await startTestService({ simulator: { delays: { CloneVM_Task: 1500 } }, env: { METRICS_TOKEN } })
})
t.teardown(() => service?.stop())

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Prometheus text format -> samples (this test's own small reader). */
function parse(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

/** The sum of the samples of `name` whose labels include `labels`. */
function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await service.app.inject({ method: 'GET', url: '/metrics', headers: service.auth('metrics:read') })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return { text: res.body, samples: parse(res.body) }
}

t.test('the figures move as a deployment does', async (t) => {
  const before = await scrape()
  t.equal(sum(before.samples, 'clones', { status: 'ready' }), 0, 'no clone yet')
  t.ok(before.samples.some((s) => s.name === 'job_queue_depth' && s.labels.queue === 'clone-provision'), 'every queue is listed, empty ones too')
  t.ok(before.samples.some((s) => s.name === 'nodejs_eventloop_lag_p99_seconds'), 'the default metrics')
  t.ok(before.samples.some((s) => s.name === 'event_loop_delay_seconds' && s.labels.stat === 'p99'), 'perf_hooks event-loop delay')
  t.ok(before.samples.some((s) => s.name === 'db_pool_waiting_clients' && s.labels.pool === 'app'), 'the pool waiters')
  const cloneCallsBefore = sum(before.samples, 'vcenter_soap_calls_total', { method: 'CloneVM_Task', outcome: 'ok' })

  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write deployments:read', 'ops-user', ['training']),
    payload: { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 1 },
  })
  t.equal(post.statusCode, 202, post.body)
  const id = post.json().id

  // While it runs: the clones are seen cloning, and the deployment running.
  let during: Sample[] | undefined
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const { samples } = await scrape()
    if (sum(samples, 'clones', { status: 'cloning' }) > 0) {
      during = samples
      break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  t.ok(during, 'a scrape saw clones cloning')
  t.equal(sum(during!, 'deployments', { kind: 'deploy', status: 'running' }), 1, 'the deployment running')
  t.ok(sum(during!, 'operation_slots_in_use', { scope: 'vcenter' }) >= 1, 'a vCenter slot held while cloning')

  const done = await waitForDeployment(service, id)
  t.equal(done.status, 'succeeded')
  const after = await scrape()
  t.equal(sum(after.samples, 'clones', { status: 'ready' }), 2, 'both clones ready')
  t.equal(sum(after.samples, 'clones', { status: 'cloning' }), 0, 'none cloning any more')
  t.equal(sum(after.samples, 'deployments', { kind: 'deploy', status: 'succeeded' }), 1)
  t.equal(sum(after.samples, 'deployments', { kind: 'deploy', status: 'running' }), 0)
  t.equal(sum(after.samples, 'clones', { status: 'ready', team: 'training' }), 2, 'clones counted under their team')
  t.equal(
    sum(after.samples, 'vcenter_task_duration_seconds_count', { kind: 'guest_customization', state: 'success' }) -
      sum(before.samples, 'vcenter_task_duration_seconds_count', { kind: 'guest_customization', state: 'success' }),
    2,
    "each guest's customization timed, from its events",
  )
  t.equal(sum(after.samples, 'deployments', { kind: 'deploy', status: 'succeeded', team: 'training' }), 1, 'the deployment under its team')
  t.equal(sum(after.samples, 'vcenter_soap_calls_total', { method: 'CloneVM_Task', outcome: 'ok' }) - cloneCallsBefore, 2, 'two CloneVM_Task calls counted')
  t.ok(sum(after.samples, 'vcenter_soap_call_duration_seconds_count', { method: 'CloneVM_Task' }) >= 2, 'their durations observed')
  t.ok(
    sum(after.samples, 'vcenter_soap_call_duration_seconds_sum', { method: 'CloneVM_Task' }) >= 2 * 1.4,
    'the call durations include the simulator\'s 1.5 s delay',
  )
  t.equal(sum(after.samples, 'vcenter_task_duration_seconds_count', { kind: 'clone', state: 'success' }), 2, 'a clone task duration per clone')
  t.ok(sum(after.samples, 'vcenter_task_duration_seconds_count', { kind: 'power_on', state: 'success' }) >= 2, 'power-on tasks too')
  t.equal(sum(after.samples, 'operation_slots_in_use', { scope: 'vcenter' }), 0, 'every slot given back')
  t.ok(sum(after.samples, 'operation_slot_wait_seconds_count', { scope: 'vcenter' }) >= 2, 'the waits for slots observed')
  t.equal(sum(after.samples, 'http_requests_total', { method: 'POST', route: '/v1/deployments', status_code: '202' }), 1, 'the POST counted by its route')
  t.ok(sum(after.samples, 'http_requests_total', { method: 'GET', route: '/v1/deployments/:id', status_code: '200' }) >= 1, 'polls counted by route pattern, not URL')
  t.notOk(after.text.includes(id), 'no deployment id in any label')
  t.equal(sum(after.samples, 'job_queue_depth', { queue: 'clone-provision' }), 0, 'the queue drained')
})

t.test('no secret, token or query string reaches the labels', async (t) => {
  const token = service.token('deployments:read')
  await service.app.inject({ method: 'GET', url: '/v1/deployments?password=hunter2-in-query', headers: { authorization: `Bearer ${token}` } })
  await service.app.inject({ method: 'GET', url: '/v1/no-such-route/hunter3-in-path?api_key=hunter4' })
  await service.app.inject({ method: 'GET', url: '/v1/deployments/00000000-0000-4000-8000-000000000000?x=hunter5', headers: { authorization: 'Bearer hunter6-bad-token' } })
  const { text, samples } = await scrape()
  for (const secret of ['hunter2', 'hunter3', 'hunter4', 'hunter5', 'hunter6', token, service.secret, service.sim.password, METRICS_TOKEN]) {
    t.notOk(text.includes(secret), `"${secret.slice(0, 12)}…" appears nowhere`)
  }
  const routes = samples.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route!)
  t.ok(routes.includes('unmatched'), 'an unknown URL counts as unmatched')
  t.ok(routes.every((r) => !r.includes('?') && !r.includes('00000000')), 'route labels are patterns')
  t.ok(sum(samples, 'http_requests_total', { route: '/v1/deployments/:id', status_code: '401' }) >= 1)
})

t.test('who may read it on the main port', async (t) => {
  const get = (authorization?: string) =>
    service.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} })
  const none = await get()
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'UNAUTHORIZED')
  const wrongScope = await get(`Bearer ${service.token('deployments:read')}`)
  t.equal(wrongScope.statusCode, 403)
  t.equal(wrongScope.json().code, 'FORBIDDEN')
  t.equal((await get(`Bearer ${service.token('admin')}`)).statusCode, 200, 'admin')
  const byToken = await get(`Bearer ${METRICS_TOKEN}`)
  t.equal(byToken.statusCode, 200, 'METRICS_TOKEN')
  t.match(byToken.headers['content-type'], /^text\/plain/)
  t.equal((await get(`Bearer ${METRICS_TOKEN}x`)).statusCode, 401, 'a token close to METRICS_TOKEN is not it')
})

t.test('with METRICS_PORT: its own listener, open; none on the main port', async (t) => {
  const port = await freePort()
  const { app } = await appWithLogs(service, t, { env: { METRICS_PORT: String(port), HOST: '127.0.0.1' }, logLevel: 'silent' })
  await app.ready()
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200)
  const text = await res.text()
  t.ok(parse(text).some((s) => s.name === 'clones' && s.labels.status === 'ready'), 'the database figures there too')
  const main = await app.inject({ method: 'GET', url: '/metrics', headers: service.auth('admin') })
  t.equal(main.statusCode, 404, 'not on the main port')
  await app.close()
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the listener closes with the app')
})
