/**
 * A database whose job queue pg-boss 10 created (the service before pg-boss 11): pg-boss 11 has no
 * migration from it, so the service sets that schema aside, lets pg-boss 11 install its own, and
 * carries the jobs over (src/db/repositories/job-queue.ts).
 */
import fs from 'node:fs/promises'
import pg from 'pg'
import t from 'tap'
import { ensureQueues, startQueue, stopQueue } from '../../src/jobs/boss.js'
import { QUEUES } from '../../src/jobs/queues.js'
import { V10_SCHEMA } from '../../src/db/repositories/job-queue.js'
import { startTestDatabase } from '../helpers/database.js'

const WAITING = '11111111-1111-4111-8111-111111111111'
const RUNNING = '22222222-2222-4222-8222-222222222222'
const LAST_RUNNING = '33333333-3333-4333-8333-333333333333'
const DONE = '44444444-4444-4444-8444-444444444444'
const GONE_QUEUE = '55555555-5555-4555-8555-555555555555'

t.test('a pg-boss 10 schema is set aside, pg-boss 11 installs its own, and the jobs come over', async (t) => {
  const database = await startTestDatabase()
  t.teardown(() => database.stop())
  const sql = new pg.Client({ connectionString: database.url })
  await sql.connect()
  t.teardown(() => sql.end())

  // What pg-boss 10.4 left: its schema, two queues, and jobs in every state that matters.
  await sql.query(await fs.readFile(new URL('../fixtures/pgboss-10-schema.sql', import.meta.url), 'utf8'))
  await sql.query(`SELECT pgboss.create_queue('clone-destroy', '{"policy":"standard","retryLimit":2}'::json)`)
  await sql.query(`SELECT pgboss.create_queue('retired-queue', '{"policy":"standard"}'::json)`)
  const insert = `INSERT INTO pgboss.job (id, name, data, state, retry_limit, retry_count, singleton_key, started_on, completed_on, expire_in)
                  VALUES ($1, $2, $3, $4, 2, $5, $6, $7, $8, interval '15 minutes')`
  await sql.query(insert, [WAITING, QUEUES.destroyClone, { cloneId: 'a', deploymentId: 'd' }, 'created', 0, 'a:d', null, null])
  await sql.query(insert, [RUNNING, QUEUES.destroyClone, { cloneId: 'b', deploymentId: 'd' }, 'active', 0, 'b:d', new Date(), null])
  await sql.query(insert, [LAST_RUNNING, QUEUES.destroyClone, { cloneId: 'c', deploymentId: 'd' }, 'active', 2, 'c:d', new Date(), null])
  await sql.query(insert, [DONE, QUEUES.destroyClone, { cloneId: 'e', deploymentId: 'd' }, 'completed', 0, 'e:d', new Date(), new Date()])
  await sql.query(insert, [GONE_QUEUE, 'retired-queue', {}, 'created', 0, null, null, null])

  const errors: Error[] = []
  const boss = await startQueue(database.url, (err) => errors.push(err))
  let stopped = false
  t.teardown(() => (stopped ? undefined : stopQueue(boss)))
  const carried = await ensureQueues(database.url, boss, [{ name: QUEUES.destroyClone, retryLimit: 2, expireInSeconds: 900 }])

  t.equal(carried, 4, "the jobs of the queues the service still has, whatever their state; not the retired queue's")
  t.equal(await boss.schemaVersion(), 26, "pg-boss 11's schema")
  const aside = await sql.query('SELECT to_regnamespace($1) AS ns', [V10_SCHEMA])
  t.equal(aside.rows[0].ns, null, 'the old schema is gone once its jobs are over')

  const { rows } = await sql.query<{ id: string; state: string; retry_count: number; retry_limit: number; expire_seconds: number }>(
    'SELECT id, state::text, retry_count, retry_limit, expire_seconds FROM pgboss.job ORDER BY id',
  )
  t.same(
    rows.map((r) => [r.id, r.state, r.retry_count, r.retry_limit, r.expire_seconds]),
    [
      [WAITING, 'created', 0, 2, 900],
      // A job running when pg-boss 10 stopped has no worker: it is queued again as its next attempt...
      [RUNNING, 'retry', 0, 2, 900],
      // ...one more allowed if it was on its last, so that its handler records the outcome.
      [LAST_RUNNING, 'retry', 2, 3, 900],
      [DONE, 'completed', 0, 2, 900],
    ],
  )

  // pg-boss 11 runs them: the interrupted attempt counts, as pg-boss 10 counted it.
  const fetched = await boss.fetch<{ cloneId: string }>(QUEUES.destroyClone, { batchSize: 10, includeMetadata: true })
  t.same(
    fetched.map((j) => [j.id, j.retryCount, j.retryLimit]).sort(),
    [
      [WAITING, 0, 2],
      [RUNNING, 1, 2],
      [LAST_RUNNING, 3, 3],
    ],
  )
  await boss.complete(QUEUES.destroyClone, fetched.map((j) => j.id))

  // Starting again (another replica, a restart) finds nothing left to carry.
  t.equal(await ensureQueues(database.url, boss, [{ name: QUEUES.destroyClone, retryLimit: 2, expireInSeconds: 900 }]), 0)
  stopped = true
  await stopQueue(boss)
  const again = await startQueue(database.url, (err) => errors.push(err))
  await stopQueue(again)
  t.same(errors, [], 'no queue errors')
})
