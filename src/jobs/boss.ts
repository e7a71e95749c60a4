/**
 * The job queue: pg-boss in the service's PostgreSQL, so that every replica shares the work
 * (jobs are claimed with SKIP LOCKED), jobs survive restarts, and failed attempts are retried
 * with backoff. Its queues are declared in queues.ts.
 */
import PgBoss from 'pg-boss'
import { carryOverV10Jobs, setAsideV10Schema } from '../db/repositories/job-queue.js'
import { withExclusiveLock } from '../db/repositories/locks.js'

/** Runs SQL on the caller's connection, so that jobs are inserted inside the caller's transaction. */
export type SqlExecutor = PgBoss.Db

/** How long running jobs are given to end when the service stops. */
export const STOP_GRACE_MS = 20_000

/** Stops taking jobs and lets running ones finish (up to 20 s); safe to call more than once. */
export function stopQueue(boss: PgBoss): Promise<void> {
  return boss.stop({ graceful: true, timeout: STOP_GRACE_MS, wait: true })
}

export async function startQueue(connectionString: string, onError: (err: Error) => void): Promise<PgBoss> {
  const options: PgBoss.ConstructorOptions & { connectionTimeoutMillis: number } = {
    connectionString,
    schema: 'pgboss',
    // Every worker of the process (30-odd) polls through this pool.
    max: 10,
    // Passed on to pg.Pool. A worker waiting for a connection is otherwise never answered once the
    // pool ends (pg-pool leaves its queue waiting), and pg-boss stops only when every worker has:
    // a stopping service kept polling forever. With a timeout its fetch fails, and it stops.
    connectionTimeoutMillis: 10_000,
  }
  // pg-boss 11 cannot migrate a pg-boss 10 schema (it has no migration from its version 24): that
  // schema is set aside, pg-boss installs its own, and ensureQueues carries the old jobs over.
  await withExclusiveLock(connectionString, QUEUE_SETUP_LOCK_KEY, () => setAsideV10Schema(connectionString))
  const boss = new PgBoss(options)
  boss.on('error', onError)
  await boss.start()
  return boss
}

/** Keep finished jobs a week for inspection, then let pg-boss's maintenance delete them (every queue). */
export const DELETE_AFTER_SECONDS = 7 * 24 * 60 * 60

/**
 * Creates every queue (ensureQueue), then carries over the jobs of a pg-boss 10 schema set aside at
 * start, if any (once, by whichever replica comes first), now that their queues exist.
 */
export async function ensureQueues(connectionString: string, boss: PgBoss, queues: PgBoss.Queue[]): Promise<number> {
  for (const queue of queues) await ensureQueue(connectionString, boss, queue)
  return withExclusiveLock(connectionString, QUEUE_SETUP_LOCK_KEY, () => carryOverV10Jobs(connectionString))
}

/**
 * Creates a queue unless it exists (updates its options if it does), one replica at a time: replicas starting together would
 * otherwise deadlock in pg-boss's create_queue. Every queue of the service is created through this.
 */
export async function ensureQueue(connectionString: string, boss: PgBoss, queue: PgBoss.Queue): Promise<void> {
  await withExclusiveLock(connectionString, QUEUE_SETUP_LOCK_KEY, async () => {
    const options = { deleteAfterSeconds: DELETE_AFTER_SECONDS, ...queue }
    if (!(await boss.getQueue(queue.name))) await boss.createQueue(queue.name, options)
    else {
      // An existing queue takes this process's retry settings (JOB_RETRY_*), which its new jobs inherit.
      // pg-boss 11 refuses to update a queue's policy or partitioning: both are kept from its creation.
      const { policy: _policy, partition: _partition, ...updatable } = options
      await boss.updateQueue(queue.name, updatable)
    }
  })
}

const QUEUE_SETUP_LOCK_KEY = 7_301_994_203
