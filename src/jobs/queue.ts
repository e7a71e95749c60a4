/**
 * The job queue: pg-boss in the service's PostgreSQL, so that every replica shares the work
 * (jobs are claimed with SKIP LOCKED), jobs survive restarts, and failed attempts are retried
 * with backoff.
 */
import PgBoss from 'pg-boss'

export const QUEUES = {
  /** One job per clone: clone, customize, power on, copy attributes. */
  provisionClone: 'clone-provision',
} as const

export interface ProvisionCloneData {
  cloneId: string
}

/** Runs SQL on the caller's connection, so that jobs are inserted inside the caller's transaction. */
export type SqlExecutor = PgBoss.Db

/** Retry policy for a clone job whose attempt failed for a passing reason (vCenter unreachable...). */
export const PROVISION_RETRY = {
  retryLimit: 8,
  retryDelay: 5,
  retryBackoff: true,
  // A linked clone takes seconds; vCenter's own queue can add minutes. Past this, the attempt is
  // presumed dead (its worker killed) and the job is handed to another worker, which resumes it.
  expireInSeconds: 15 * 60,
}

export async function startQueue(connectionString: string, onError: (err: Error) => void): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString,
    schema: 'pgboss',
    max: 5,
    // Keep finished jobs a week for inspection, then let pg-boss's maintenance delete them.
    deleteAfterDays: 7,
  })
  boss.on('error', onError)
  await boss.start()
  await boss.createQueue(QUEUES.provisionClone, { name: QUEUES.provisionClone, ...PROVISION_RETRY })
  return boss
}

export async function enqueueProvisioning(boss: PgBoss, cloneIds: string[], db?: SqlExecutor): Promise<void> {
  if (cloneIds.length === 0) return
  await boss.insert(
    cloneIds.map((cloneId) => ({
      name: QUEUES.provisionClone,
      data: { cloneId } satisfies ProvisionCloneData,
      singletonKey: cloneId,
      ...PROVISION_RETRY,
    })),
    db ? { db } : {},
  )
}
