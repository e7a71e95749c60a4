/**
 * Parallel deployments within limits that hold across replicas, fair sharing between deployments,
 * placement under the host limit, and the dry run. The simulator runs vCenter operations slowly
 * enough to overlap, and counts how many are in flight at once.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../../src/app.js'
import { loadConfig } from '../../../src/config/config.js'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

const LIMIT = 4
let api: TestService

t.before(async () => {
  api = await startTestService({
    runWorkers: false,
    simulator: { delays: { CloneVM_Task: 300, CustomizeVM_Task: 60, PowerOnVM_Task: 60, PowerOffVM_Task: 60, Destroy_Task: 200 } },
    env: { LIMIT_VCENTER_OPERATIONS: String(LIMIT) },
  })
})
t.teardown(() => api?.stop())

/** A replica of the service running clone jobs, with its own limits environment. */
async function replica(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    VCENTER_URL: api.sim.url,
    VCENTER_USERNAME: api.sim.username,
    VCENTER_PASSWORD: api.sim.password,
    VCENTER_INSECURE: 'true',
    JWT_SECRET: api.secret,
    LOG_LEVEL: 'silent',
    LIMIT_VCENTER_OPERATIONS: String(LIMIT),
    ...env,
  })
  const app = await buildApp({ config, databaseUrl: api.db.url, runWorkers: true })
  await app.ready()
  return app
}

async function deploy(payload: object, sub = 'portal-user') {
  const res = await api.app.inject({ method: 'POST', url: '/v1/deployments', headers: api.auth(undefined, sub), payload })
  if (res.statusCode !== 202) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json()
}

t.test('the dry run answers the plan and changes nothing', async (t) => {
  await api.sim.resetStats()
  const res = await api.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: api.auth(),
    payload: { parent: 'Tmpl Verification 1.0', count: 10, startNumber: 1, hostLimit: 3, dryRun: true },
  })
  t.equal(res.statusCode, 200, res.body)
  const plan = res.json()
  t.equal(plan.dryRun, true)
  t.equal(plan.clones.length, 10)
  t.equal(plan.clones[0].name, 'Verification01')
  t.equal(plan.hosts.length, 3, 'three hosts under hostLimit 3')
  t.same(plan.hosts.map((h: any) => h.clones).sort(), [3, 3, 4], 'spread evenly')
  t.ok(plan.checks.every((c: any) => c.passed))
  t.equal(plan.customizationSpec, 'Verification')
  t.same(plan.estimate.concurrency, LIMIT)
  t.equal(plan.estimate.waves, 3)
  t.equal(plan.estimate.seconds, 3 * plan.estimate.secondsPerClone + plan.estimate.guestSeconds)

  const stats = await api.sim.stats()
  t.equal(stats.tasks.count, 0, 'no vCenter operation')
  t.notOk(stats.methods.SetField?.count)
  const { rows } = await api.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  t.equal(rows[0].n, 0, 'nothing recorded')

  const refused = await api.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: api.auth(),
    payload: { parent: 'Tmpl NoSnap 1.0', count: 1, startNumber: 1, dryRun: true },
  })
  t.equal(refused.statusCode, 422, 'a dry run is refused as the real request would be')
  t.equal(refused.json().code, 'SNAPSHOT_MISSING')
})

t.test('limits hold across replicas; clones are placed within the host limit', async (t) => {
  await api.sim.resetStats()
  const [a, b] = await Promise.all([replica(), replica()])
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const deployments = await Promise.all([
    deploy({ parent: 'Tmpl Capture 1.0', count: 8, startNumber: 1, hostLimit: 3 }),
    deploy({ parent: 'Tmpl Packaging 1.0', count: 8, startNumber: 1 }),
  ])
  const done = await Promise.all(deployments.map((d) => waitForDeployment(api, d.id)))
  for (const d of done) t.equal(d.status, 'succeeded')

  const stats = await api.sim.stats()
  t.ok(stats.tasks.maxInFlight <= LIMIT, `at most ${LIMIT} operations at once (saw ${stats.tasks.maxInFlight})`)
  t.equal(stats.methods.CloneVM_Task?.count, 16, 'each clone made once')

  const capture = done[0]!
  const hosts = new Set(capture.clones.map((c: any) => c.host))
  t.equal(hosts.size, 3, 'hostLimit 3: three hosts')
  t.equal(capture.hostLimit, 3)
  for (const c of capture.clones) t.match(c.reportedHost, /^host-/, 'where vCenter reports it is recorded')
})

t.test('a per-host limit holds when all clones share one host', async (t) => {
  await api.sim.resetStats()
  const worker = await replica({ LIMIT_HOST_OPERATIONS: '2' })
  t.teardown(() => worker.close())
  const d = await deploy({ parent: 'Tmpl Capture 1.0', count: 6, startNumber: 40, hostLimit: 1 })
  const done = await waitForDeployment(api, d.id)
  t.equal(done.status, 'succeeded')
  t.equal(new Set(done.clones.map((c: any) => c.host)).size, 1)
  const stats = await api.sim.stats()
  t.ok(stats.tasks.maxInFlight <= 2, `at most 2 at once on the host (saw ${stats.tasks.maxInFlight})`)
})

t.test('ten deployments from ten users, accepted one after another, all finish, each clone made once', async (t) => {
  await api.sim.resetStats()
  const worker = await replica()
  t.teardown(() => worker.close())
  // Accepted one after another, each behind the previous one in the queue.
  const accepted = []
  for (let i = 0; i < 10; i++) {
    accepted.push(await deploy({ parent: 'Tmpl Verification 1.0', count: 10, startNumber: 100 + i * 10, prefix: `Fair${i}-` }, `user${i}`))
  }
  const done = await Promise.all(accepted.map((d) => waitForDeployment(api, d.id, 300_000)))
  for (const d of done) t.equal(d.status, 'succeeded')
  // Sharing (none waits for the others to finish) is a matter of timing: npm run bench measures it.
  const names = done.flatMap((d) => d.clones.map((c: { name: string }) => c.name))
  t.equal(new Set(names).size, 100, 'a hundred distinct clones')
  const stats = await api.sim.stats()
  t.equal(stats.methods.CloneVM_Task?.count, 100, 'each made once')
  t.ok(stats.tasks.maxInFlight <= LIMIT, `at most ${LIMIT} operations at once (saw ${stats.tasks.maxInFlight})`)
})

t.test('destroying clones counts against the same limits as making them, across replicas', async (t) => {
  const pools = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
    api.app.inject({ method, url, headers: api.auth(), ...(payload ? { payload } : {}) })
  const [a, b] = await Promise.all([replica(), replica()])
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const created = await pools('POST', '/v1/pools', { name: 'churn', parent: 'Tmpl Packaging 1.0', prefix: 'Churn', startNumber: 1, size: 8 })
  t.equal(created.statusCode, 202, created.body)
  t.equal((await waitForDeployment(api, created.json().deploymentId)).status, 'succeeded')

  // A strip back (each replica has destroy workers of its own) while a deployment makes clones.
  await api.sim.resetStats()
  const strip = await pools('DELETE', '/v1/pools/churn')
  t.equal(strip.statusCode, 202, strip.body)
  const deployment = await deploy({ parent: 'Tmpl Capture 1.0', count: 8, startNumber: 60 })
  const done = await Promise.all([waitForDeployment(api, strip.json().deploymentId), waitForDeployment(api, deployment.id)])
  for (const d of done) t.equal(d.status, 'succeeded')
  const stats = await api.sim.stats()
  t.equal(stats.methods.Destroy_Task?.count, 8, 'every clone destroyed')
  t.equal(stats.methods.CloneVM_Task?.count, 8, 'every clone made')
  t.ok(stats.tasks.maxInFlight <= LIMIT, `at most ${LIMIT} operations at once, making and destroying together (saw ${stats.tasks.maxInFlight})`)
})
