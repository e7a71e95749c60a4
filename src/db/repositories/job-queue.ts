/** Reads of pg-boss's own job table that the job runtime needs (the reaper). */
import type pg from 'pg'

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
