/**
 * A job's ownership: a session-level PostgreSQL advisory lock held on a connection of its own for the
 * job's whole run. While it is held, the job has a live worker: another worker handed the same job
 * (a retry, a job delivered twice) steps aside, and the reaper (src/jobs/reaper.ts) leaves it alone.
 * PostgreSQL frees it with the connection when the worker's process dies, which is how the reaper
 * tells a dead worker's job. Clone provisioning takes its clone's lock through OperationLimiter.
 */
import { createHash } from 'node:crypto'
import pg from 'pg'

/**
 * The 64-bit lock id owning one job of a queue: keys are namespaced by queue, so a clone's destroy
 * and its provisioning (keyed on the same clone id) never take each other's lock.
 */
export function ownershipLockId(queue: string, key: string): string {
  return createHash('sha256').update(`linked-clones:owner:${queue}:${key}`).digest().readBigInt64BE(0).toString()
}

/**
 * The connections ownership locks are held on: apart from the application's pool, so that jobs holding
 * them for minutes never starve its queries. More holders than `max` wait for a connection.
 */
export function openOwnershipPool(databaseUrl: string, max = 8): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, application_name: 'job-ownership' })
  // A broken idle connection must not crash the process (one in use fails its query, and is discarded).
  pool.on('error', () => {})
  return pool
}

/**
 * True when no session holds the lock (no live worker owns its job). Read from pg_locks rather than
 * by taking the lock: a probe holding it even briefly could turn away the job's own worker.
 */
export async function isLockFree(db: pg.ClientBase | pg.Pool, lockId: string): Promise<boolean> {
  // A bigint key shows as its high half in classid and its low half in objid, with objsubid 1.
  const key = BigInt.asUintN(64, BigInt(lockId))
  const { rows } = await db.query<{ held: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::oid AND objid = $2::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     ) AS held`,
    [(key >> 32n).toString(), (key & 0xffff_ffffn).toString()],
  )
  return !rows[0]!.held
}

export type Owned<T> = { owned: true; value: T } | { owned: false }

/**
 * Runs `fn` holding the lock; `{ owned: false }` without running it when another worker holds it.
 * The lock is released after `fn`, whether it succeeded or threw.
 */
export async function withOwnership<T>(pool: pg.Pool, lockId: string, fn: () => Promise<T>): Promise<Owned<T>> {
  const client = await pool.connect()
  // A connection that failed a query is discarded: the server frees its lock with it.
  let broken: Error | undefined
  const query = (sql: string) =>
    client.query<{ mine: boolean }>(sql, [lockId]).catch((err: Error) => {
      broken = err
      throw err
    })
  try {
    const { rows } = await query('SELECT pg_try_advisory_lock($1::bigint) AS mine')
    if (!rows[0]!.mine) return { owned: false }
    try {
      return { owned: true, value: await fn() }
    } finally {
      await query('SELECT pg_advisory_unlock($1::bigint)').catch(() => {})
    }
  } finally {
    client.release(broken)
  }
}
