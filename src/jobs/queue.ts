/**
 * The job queue: pg-boss in the service's PostgreSQL, so that every replica shares the work
 * (jobs are claimed with SKIP LOCKED), jobs survive restarts, and failed attempts are retried
 * with backoff.
 */
import pg from 'pg'
import PgBoss from 'pg-boss'

export const QUEUES = {
  /** One job per clone: clone, customize, power on, copy attributes. */
  provisionClone: 'clone-provision',
  /** One job per clone of a pool being stripped back or scaled down: power off, destroy. */
  destroyClone: 'clone-destroy',
  /** One job per pool with an expiry, due at that time: strips the pool back. */
  expirePool: 'pool-expire',
} as const

export interface DestroyCloneData {
  cloneId: string
  deploymentId: string
}

export interface ExpirePoolData {
  pool: string
}

/** Notified (on commit) when clone jobs are queued, so that idle workers in every replica wake up. */
export const JOBS_QUEUED = 'clone_jobs_queued'

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

/** Stops taking jobs and lets running ones finish (up to 20 s); safe to call more than once. */
/** How long running jobs are given to end when the service stops. */
export const STOP_GRACE_MS = 20_000

export function stopQueue(boss: PgBoss): Promise<void> {
  return boss.stop({ graceful: true, timeout: STOP_GRACE_MS, wait: true })
}

/** Above the largest deployment's clone count. */
const MAX_PRIORITY = 10_000

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
    // Keep finished jobs a week for inspection, then let pg-boss's maintenance delete them.
    deleteAfterDays: 7,
  }
  const boss = new PgBoss(options)
  boss.on('error', onError)
  await boss.start()
  await ensureQueue(connectionString, boss, { name: QUEUES.provisionClone, ...PROVISION_RETRY })
  await ensureQueue(connectionString, boss, { name: QUEUES.destroyClone, ...PROVISION_RETRY })
  await ensureQueue(connectionString, boss, { name: QUEUES.expirePool, retryLimit: 20, retryDelay: 5, retryBackoff: true })
  return boss
}

/**
 * One job per clone. Priorities interleave deployments: every deployment's first clone comes before
 * any deployment's second one, so that many deployments at once share the limits and none starves
 * behind a large one queued earlier.
 */
/**
 * Creates a queue unless it exists, one replica at a time: replicas starting together would
 * otherwise deadlock in pg-boss's create_queue. Every queue of the service is created through this.
 */
export async function ensureQueue(connectionString: string, boss: PgBoss, queue: PgBoss.Queue): Promise<void> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [QUEUE_SETUP_LOCK_KEY])
    if (!(await boss.getQueue(queue.name))) await boss.createQueue(queue.name, queue)
  } finally {
    await client.end()
  }
}

const QUEUE_SETUP_LOCK_KEY = 7_301_994_203

export async function enqueueProvisioning(boss: PgBoss, cloneIds: string[], db?: SqlExecutor): Promise<void> {
  if (cloneIds.length === 0) return
  await boss.insert(
    cloneIds.map((cloneId, index) => ({
      name: QUEUES.provisionClone,
      data: { cloneId } satisfies ProvisionCloneData,
      singletonKey: cloneId,
      priority: MAX_PRIORITY - index,
      ...PROVISION_RETRY,
    })),
    db ? { db } : {},
  )
  await (db ?? { executeSql: (text: string, values: unknown[]) => boss.getDb().executeSql(text, values) }).executeSql(
    `SELECT pg_notify('${JOBS_QUEUED}', '')`,
    [],
  )
}

/** One destroy job per clone, inside the caller's transaction. */
export async function enqueueDestroy(boss: PgBoss, cloneIds: string[], deploymentId: string, db: SqlExecutor): Promise<void> {
  if (cloneIds.length === 0) return
  await boss.insert(
    cloneIds.map((cloneId) => ({
      name: QUEUES.destroyClone,
      data: { cloneId, deploymentId } satisfies DestroyCloneData,
      singletonKey: `${cloneId}:${deploymentId}`,
      ...PROVISION_RETRY,
    })),
    { db },
  )
}

/**
 * The pool's expiry job, due at `expiresAt`. One per pool and expiry time; a renewed pool's earlier
 * job still runs and finds the pool not yet expired.
 */
export async function scheduleExpiry(boss: PgBoss, pool: string, expiresAt: Date): Promise<void> {
  await boss.send(QUEUES.expirePool, { pool } satisfies ExpirePoolData, {
    startAfter: expiresAt,
    singletonKey: `${pool}@${expiresAt.toISOString()}`,
    retryLimit: 20,
    retryDelay: 5,
    retryBackoff: true,
  })
}
