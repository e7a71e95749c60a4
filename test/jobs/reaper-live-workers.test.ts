/**
 * The reaper leaves a live worker's job alone even while that worker waits before its first write:
 * a clone job takes its ownership lock before anything that can wait (here its first read, held up by
 * a lock on the clones table, as a busy database holds it up). Before, the lock was taken only after
 * the clone and deployment were read, and a job fetched but still reading looked dead.
 */
import pg from 'pg'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { ownerLockId } from '../../src/jobs/operation-limiter.js'
import { isLockFree } from '../../src/jobs/ownership.js'
import { QUEUES } from '../../src/jobs/queues.js'
import { JobReaper } from '../../src/jobs/reaper.js'
import { startTestService, waitForDeployment, type TestService } from '../helpers/service.js'

let api: TestService
t.before(async () => {
  api = await startTestService({ runWorkers: false })
})
t.teardown(() => api?.stop())

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('a clone job whose worker is still reading holds its lock; the reaper leaves it', async (t) => {
  const accepted = await api.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: api.auth(),
    payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 41 },
  })
  t.equal(accepted.statusCode, 202, 'accepted')
  const deploymentId = accepted.json().id
  const cloneId = (await api.app.database.pool.query('SELECT id FROM clones WHERE deployment_id = $1', [deploymentId])).rows[0].id

  // The worker's first read of the clone waits behind this lock until the test lets it go.
  const blocker = new pg.Client({ connectionString: api.db.url })
  await blocker.connect()
  t.teardown(() => blocker.end().catch(() => {}))
  await blocker.query('BEGIN')
  await blocker.query('LOCK TABLE clones IN ACCESS EXCLUSIVE MODE')

  const worker = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  t.teardown(() => worker.close())
  await worker.ready()
  await until('the job to be claimed', async () => {
    const { rows } = await api.app.database.pool.query(
      `SELECT 1 FROM pgboss.job WHERE name = $1 AND state = 'active' AND data->>'cloneId' = $2`,
      [QUEUES.provisionClone, cloneId],
    )
    return rows.length > 0 ? true : undefined
  })
  // Give the worker time to reach its read (it cannot pass it).
  await new Promise((r) => setTimeout(r, 500))

  t.notOk(await isLockFree(api.app.database.pool, ownerLockId(cloneId)), 'the waiting worker holds the clone lock')
  const reaper = new JobReaper(api.app.database.pool, api.app.boss, api.app.log, { minAgeSeconds: 0 })
  t.equal(await reaper.sweep(), 0, 'nothing is handed back from a live worker')

  await blocker.query('COMMIT')
  const done = await waitForDeployment(api, deploymentId)
  t.equal(done.status, 'succeeded')
  const { rows } = await api.app.database.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND data->>'cloneId' = $2`, [
    QUEUES.provisionClone,
    cloneId,
  ])
  t.equal(rows[0].n, 1, 'one job, never failed and retried')
})
