/**
 * A pool's expiry: one job per pool and expiry time, due at `expiresAt`, that strips the pool back.
 * A renewed pool's earlier job still runs and finds the pool not yet expired; a busy pool throws
 * POOL_BUSY, and pg-boss retries the job until the pool is idle.
 */
import type { FastifyBaseLogger } from 'fastify'
import type PgBoss from 'pg-boss'
import type { SqlExecutor } from '../../jobs/boss.js'
import type { Job } from '../../jobs/queue-plugin.js'
import { QUEUES, type ExpirePoolData } from '../../jobs/queues.js'

/** What the expiry job needs of pools (PoolService.expire). */
export interface PoolExpiry {
  expire(name: string): Promise<'stripped' | 'not-due'>
}

/** The pool's expiry job, due at `expiresAt`; inside the caller's transaction when `db` is given. */
export async function scheduleExpiry(boss: PgBoss, pool: string, expiresAt: Date, db?: SqlExecutor): Promise<void> {
  await boss.send(QUEUES.expirePool, { pool } satisfies ExpirePoolData, {
    startAfter: expiresAt,
    singletonKey: `${pool}@${expiresAt.toISOString()}`,
    ...(db ? { db } : {}),
  })
}

/** The handler of the expiry queue. */
export function expirePoolJob(pools: PoolExpiry, log: FastifyBaseLogger) {
  return async (job: Job<ExpirePoolData>): Promise<void> => {
    // A busy pool throws POOL_BUSY: pg-boss retries the job until the pool is idle.
    const outcome = await pools.expire(job.data.pool)
    if (outcome === 'stripped') log.info({ pool: job.data.pool }, 'pool expired: stripped back')
  }
}
