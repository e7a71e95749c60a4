/** Reads of pg-boss's own job table that the job runtime needs (the reaper), and its upgrade from pg-boss 10. */
import pg from 'pg'

export interface ActiveJob {
  id: string
  name: string
  data: Record<string, unknown> | null
}

/** Jobs of these queues a worker claimed more than `minAgeSeconds` ago and has not finished. */
export async function activeJobsStartedBefore(pool: pg.Pool, queues: string[], minAgeSeconds: number): Promise<ActiveJob[]> {
  const { rows } = await pool.query<ActiveJob>(
    `SELECT id, name, data FROM pgboss.job
      WHERE name = ANY($1::text[]) AND state = 'active' AND started_on < now() - make_interval(secs => $2)`,
    [queues, minAgeSeconds],
  )
  return rows
}

/** Where a pg-boss 10 schema waits, between its setting aside and its jobs' carrying over. */
export const V10_SCHEMA = 'pgboss_v10'
/** The last schema version of pg-boss 10 (10.1.1 to 10.4.x); pg-boss 11 starts at 25. */
const LAST_V10_SCHEMA_VERSION = 24

async function withClient<T>(connectionString: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * Renames a pg-boss 10 schema `pgboss` to pgboss_v10, so that pg-boss 11 installs its own: it has no
 * migration from pg-boss 10. True when it did. Every replica must have stopped first (pg-boss 10
 * working on a renamed schema fails). Run under the queue set-up lock.
 */
export async function setAsideV10Schema(connectionString: string): Promise<boolean> {
  return withClient(connectionString, async (client) => {
    const { rows } = await client.query<{ installed: boolean; asideExists: boolean }>(
      `SELECT to_regclass('pgboss.version') IS NOT NULL AS installed, to_regnamespace($1) IS NOT NULL AS "asideExists"`,
      [V10_SCHEMA],
    )
    if (!rows[0]!.installed) return false
    const version = await client.query<{ version: number }>('SELECT version::int AS version FROM pgboss.version')
    const current = version.rows[0]?.version
    if (current === undefined || current > LAST_V10_SCHEMA_VERSION) return false
    if (current < LAST_V10_SCHEMA_VERSION) throw new Error(`pg-boss schema version ${current}: start pg-boss 10.4 on it first`)
    if (rows[0]!.asideExists) throw new Error(`both pgboss (pg-boss 10) and ${V10_SCHEMA} exist: one of them must go`)
    await client.query(`ALTER SCHEMA pgboss RENAME TO ${V10_SCHEMA}`)
    return true
  })
}

/**
 * Copies the jobs of a set-aside pg-boss 10 schema into pg-boss 11's, for the queues that exist there,
 * then drops the old schema; returns how many were copied. A job that was running when pg-boss 10
 * stopped (active: its worker is gone) is queued again as its next attempt, with one more allowed if
 * it was on its last, so that its handler records the outcome. Finished jobs come over too (kept for
 * inspection until deleted); pg-boss 10's archive does not. One transaction: all or nothing.
 */
export async function carryOverV10Jobs(connectionString: string): Promise<number> {
  return withClient(connectionString, async (client) => {
    const { rows } = await client.query<{ aside: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS aside`, [`${V10_SCHEMA}.job`])
    if (!rows[0]!.aside) return 0
    await client.query('BEGIN')
    try {
      const copied = await client.query(
        `INSERT INTO pgboss.job (id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff,
                                 expire_seconds, deletion_seconds, singleton_key, singleton_on, start_after, created_on,
                                 started_on, completed_on, keep_until, output, dead_letter, policy)
         SELECT j.id, j.name, j.priority, j.data,
                (CASE WHEN j.state = 'active' THEN 'retry' ELSE j.state::text END)::pgboss.job_state,
                CASE WHEN j.state = 'active' THEN greatest(j.retry_limit, j.retry_count + 1) ELSE j.retry_limit END,
                j.retry_count, j.retry_delay, j.retry_backoff,
                ceil(extract(epoch FROM j.expire_in))::int, q.deletion_seconds, j.singleton_key, j.singleton_on,
                CASE WHEN j.state = 'active' THEN now() ELSE j.start_after END, j.created_on,
                j.started_on, j.completed_on, j.keep_until, j.output,
                (SELECT d.name FROM pgboss.queue d WHERE d.name = j.dead_letter), q.policy
           FROM ${V10_SCHEMA}.job j
           JOIN pgboss.queue q ON q.name = j.name
         ON CONFLICT DO NOTHING`,
      )
      await client.query(`DROP SCHEMA ${V10_SCHEMA} CASCADE`)
      await client.query('COMMIT')
      return copied.rowCount ?? 0
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
  })
}
