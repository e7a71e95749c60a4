/**
 * Read models for the metrics scrape (modules/operations): counts of records by status, and the job
 * queue's depth per queue from pg-boss's own tables. Each is one short aggregate, run at scrape time.
 */
import type pg from 'pg'

export interface StatusCount {
  status: string
  /** The owning team (teams are few: a label, as in the 'clones by status and team'). */
  team: string
  count: number
}

export interface DeploymentCount extends StatusCount {
  kind: string
}

export interface QueueDepth {
  queue: string
  /** Jobs ready to run and waiting for a worker (created or retry, start time reached). */
  waiting: number
  /** Jobs a worker has claimed and not finished. */
  active: number
  /** Seconds the longest-waiting ready job has waited; 0 when none waits. */
  oldestWaitingSeconds: number
}

export interface OperationsSnapshot {
  clones: StatusCount[]
  deployments: DeploymentCount[]
  queues: QueueDepth[]
}

/** Clones by status and team, deployments by kind, status and team, and every queue's depth: one read for a scrape. */
export async function readOperationsSnapshot(pool: pg.Pool): Promise<OperationsSnapshot> {
  const [clones, deployments, queues] = await Promise.all([
    pool.query<StatusCount>('SELECT status, team, count(*)::int AS count FROM clones GROUP BY status, team'),
    pool.query<DeploymentCount>('SELECT kind, status, team, count(*)::int AS count FROM deployments GROUP BY kind, status, team'),
    // Every queue pg-boss knows, with zeros when it is empty, so that a series does not vanish.
    pool.query<QueueDepth>(
      `SELECT q.name AS queue,
              count(j.id) FILTER (WHERE j.state IN ('created', 'retry') AND j.start_after <= now())::int AS waiting,
              count(j.id) FILTER (WHERE j.state = 'active')::int AS active,
              coalesce(extract(epoch FROM now() - min(j.start_after)
                FILTER (WHERE j.state IN ('created', 'retry') AND j.start_after <= now())), 0)::float8 AS "oldestWaitingSeconds"
         FROM pgboss.queue q
         LEFT JOIN pgboss.job j ON j.name = q.name AND j.state IN ('created', 'retry', 'active')
        GROUP BY q.name`,
    ),
  ])
  return { clones: clones.rows, deployments: deployments.rows, queues: queues.rows }
}
