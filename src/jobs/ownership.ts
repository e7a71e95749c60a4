/**
 * A job's ownership: a session-level PostgreSQL advisory lock held on a connection of its own for the
 * job's whole run. While it is held, the job has a live worker: another worker handed the same job
 * (a retry, a job delivered twice) steps aside, and the reaper (src/jobs/reaper.ts) leaves it alone.
 * PostgreSQL frees it with the connection when the worker's process dies, which is how the reaper
 * tells a dead worker's job. Clone provisioning takes its clone's lock through OperationLimiter.
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import { isLockHeld, tryLock, unlock } from '../db/repositories/locks.js'

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

/** True when no session holds the lock (no live worker owns its job). */
export async function isLockFree(db: pg.ClientBase | pg.Pool, lockId: string): Promise<boolean> {
  return !(await isLockHeld(db, lockId))
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
  const broke = (err: Error) => {
    broken = err
    throw err
  }
  try {
    if (!(await tryLock(client, lockId).catch(broke))) return { owned: false }
    try {
      return { owned: true, value: await fn() }
    } finally {
      await unlock(client, lockId)
        .catch(broke)
        .catch(() => {})
    }
  } finally {
    client.release(broken)
  }
}
