/**
 * Every queue of the service, in one place: its name, its retry policy (pg-boss's queue options, which
 * its jobs are also sent with), its workers, its schedule, and the ownership lock its live jobs hold.
 * The job runtime (queue-plugin.ts) creates every queue at start, runs the handlers the modules
 * register, schedules the crons and sweeps the owned queues (reaper.ts). Each module's job file
 * imports its queue's name and data type from here.
 */
import type PgBoss from 'pg-boss'
import type { Config, Limits } from '../config/config.js'
import { ownerLockId } from './operation-limiter.js'
import { ownershipLockId } from './ownership.js'
import { MAX_CUSTOMIZATION_TIMEOUT_MINUTES } from '../domain/guest.js'

export const QUEUES = {
  /** One job per clone: clone, customize, power on, copy attributes. */
  provisionClone: 'clone-provision',
  /** One job per clone of a pool being stripped back or scaled down: power off, destroy. */
  destroyClone: 'clone-destroy',
  /** One job per pool with an expiry, due at that time: strips the pool back. */
  expirePool: 'pool-expire',
  /** One job per parent preparation: power off, snapshot, recompose. */
  prepareParent: 'parent-prepare',
  /** One job per reconcile deployment of a pool: power on, rename back. */
  reconcilePool: 'pool-reconcile',
  /** The scheduled drift check of every active pool (DRIFT_CHECK_MINUTES), one at a time across replicas. */
  driftCheck: 'pool-drift-check',
  /** The scheduled attribute sync from vCenter (ATTRIBUTE_SYNC_MINUTES), one at a time across replicas. */
  attributeSync: 'attribute-sync',
  /** One job per recorded webhook event, queued in the change's transaction: its deliveries. */
  webhookEvent: 'webhook-event',
  /** One job per delivery (event x subscription): signed POSTs, retried with growing delays. */
  webhookDeliver: 'webhook-deliver',
} as const

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES]

export interface ProvisionCloneData {
  cloneId: string
}

export interface DestroyCloneData {
  cloneId: string
  deploymentId: string
}

export interface ExpirePoolData {
  pool: string
}

export interface PrepareParentData {
  preparationId: string
}

export type RepairAction = { cloneId: string; action: 'power_on' | 'rename' }

export interface ReconcilePoolData {
  deploymentId: string
  actions: RepairAction[]
}

export interface WebhookEventData {
  eventId: string
}

export interface WebhookDeliverData {
  deliveryId: string
}

/** What a job of each queue carries. */
export interface QueueData {
  [QUEUES.provisionClone]: ProvisionCloneData
  [QUEUES.destroyClone]: DestroyCloneData
  [QUEUES.expirePool]: ExpirePoolData
  [QUEUES.prepareParent]: PrepareParentData
  [QUEUES.reconcilePool]: ReconcilePoolData
  [QUEUES.driftCheck]: object
  [QUEUES.attributeSync]: object
  [QUEUES.webhookEvent]: WebhookEventData
  [QUEUES.webhookDeliver]: WebhookDeliverData
}

/** Notified (on commit) when clone jobs are queued, so that idle workers in every replica wake up. */
export const JOBS_QUEUED = 'clone_jobs_queued'

/**
 * How a job whose attempt failed for a passing reason (vCenter unreachable...) is tried again:
 * JOB_RETRY_LIMIT more times, first after JOB_RETRY_DELAY_SECONDS, doubling from there (pg-boss's
 * backoff); a delay of 0 retries at once (tests run a job through all its attempts so).
 */
export function retryPolicy(config: Pick<Config, 'jobRetries'>): { retryLimit: number; retryDelay: number; retryBackoff: boolean } {
  const { limit, delaySeconds } = config.jobRetries
  return { retryLimit: limit, retryDelay: delaySeconds, retryBackoff: delaySeconds > 0 }
}

/**
 * Clone jobs: a linked clone takes seconds; vCenter's own queue can add minutes; then its guest
 * customizes for up to the longest customization limit (within pg-boss's 24-hour maximum). Past this,
 * the attempt is presumed dead (its worker killed) and the job is handed to another worker, which resumes it.
 */
export const PROVISION_EXPIRY = { expireInSeconds: 15 * 60 + MAX_CUSTOMIZATION_TIMEOUT_MINUTES * 60 }

/** Destroying a clone takes seconds; vCenter's own queue can add minutes. */
export const DESTROY_EXPIRY = { expireInSeconds: 15 * 60 }

/** A busy pool's expiry is retried until the pool is idle, whatever JOB_RETRY_*: it waits, it does not fail. */
const EXPIRE_RETRY = { retryLimit: 20, retryDelay: 5, retryBackoff: true }

/**
 * A power-off and a snapshot without memory take seconds: an attempt still active after 5 minutes is
 * presumed dead (its process killed) and handed to another worker, which resumes it from the records.
 */
export const PREPARE_EXPIRY = { expireInSeconds: 5 * 60 }

export const RECONCILE_EXPIRY = { expireInSeconds: 15 * 60 }

/** A fan-out is a few inserts: retried quickly. */
export const WEBHOOK_EVENT_RETRY = { retryLimit: 10, retryDelay: 2, retryBackoff: true, expireInSeconds: 5 * 60 }

/**
 * A delivery: 14 attempts with doubling delays from WEBHOOK_RETRY_SECONDS (30 s: the last one more than
 * 24 hours after the first; pg-boss adds jitter). An attempt takes at most 10 s.
 */
export function webhookDeliverRetry(retrySeconds: number) {
  return { retryLimit: 13, retryDelay: retrySeconds, retryBackoff: true, expireInSeconds: 60 }
}

/** stately: at most one job queued and one running, across every replica; not retried (the next run comes). */
const SCHEDULED = { policy: 'stately', retryLimit: 0, expireInSeconds: 15 * 60 } as const

export interface QueueDefinition {
  /**
   * pg-boss's options for the queue, given when the runtime creates (or updates) it at start; its jobs
   * take their retry policy and expiry from their queue.
   */
  options: (config: Config) => Omit<PgBoss.Queue, 'name'>
  /** Workers of a process that runs workers (default 1). */
  workers?: (config: Config) => number
  /** How often an idle worker polls. */
  pollingIntervalSeconds: number
  /** Its jobs take slots of the operation limiter: the limiter keeps a connection for each worker. */
  operationSlots?: boolean
  /** A notification that wakes this queue's idle workers at once (sent when jobs are queued). */
  wakeOn?: string
  /** Scheduled every so many minutes (0: unscheduled) by the processes that run its workers. */
  everyMinutes?: (config: Config) => number
  /**
   * The ownership lock a live job holds, on the key its data names (src/jobs/ownership.ts): the
   * reaper (src/jobs/reaper.ts) hands back the active jobs whose lock is free.
   */
  owner?: { field: string; lockId(key: string): string }
}

export const QUEUE_REGISTRY: { readonly [Q in QueueName]: QueueDefinition } = {
  [QUEUES.provisionClone]: {
    options: (config) => ({ ...retryPolicy(config), ...PROVISION_EXPIRY }),
    workers: (config) => provisionWorkerCount(config.limits),
    pollingIntervalSeconds: 0.5,
    operationSlots: true,
    // Idle workers poll every half second; a new deployment in any replica wakes them at once.
    wakeOn: JOBS_QUEUED,
    // Taken by OperationLimiter.acquire, on the connection that holds the clone's slots.
    owner: { field: 'cloneId', lockId: ownerLockId },
  },
  [QUEUES.destroyClone]: {
    options: (config) => ({ ...retryPolicy(config), ...DESTROY_EXPIRY }),
    // Few: destroying is quick; every worker polls on pg-boss's small pool, and 20 more kept its
    // graceful stop from ending.
    workers: (config) => Math.min(4, config.limits.perVcenter),
    pollingIntervalSeconds: 0.5,
    // Its slots are the same advisory locks as the clone workers', so making and destroying clones
    // share the limits across replicas.
    operationSlots: true,
    // Keyed on the clone, whichever deployment destroys it.
    owner: { field: 'cloneId', lockId: (cloneId) => ownershipLockId(QUEUES.destroyClone, cloneId) },
  },
  [QUEUES.expirePool]: {
    options: () => EXPIRE_RETRY,
    pollingIntervalSeconds: 1,
  },
  [QUEUES.prepareParent]: {
    options: (config) => ({ ...retryPolicy(config), ...PREPARE_EXPIRY }),
    pollingIntervalSeconds: 1,
    owner: { field: 'preparationId', lockId: (preparationId) => ownershipLockId(QUEUES.prepareParent, preparationId) },
  },
  [QUEUES.reconcilePool]: {
    options: (config) => ({ ...retryPolicy(config), ...RECONCILE_EXPIRY }),
    pollingIntervalSeconds: 1,
    owner: { field: 'deploymentId', lockId: (deploymentId) => ownershipLockId(QUEUES.reconcilePool, deploymentId) },
  },
  [QUEUES.driftCheck]: {
    options: () => SCHEDULED,
    pollingIntervalSeconds: 5,
    everyMinutes: (config) => config.driftCheckMinutes,
  },
  [QUEUES.attributeSync]: {
    options: () => SCHEDULED,
    pollingIntervalSeconds: 5,
    everyMinutes: (config) => config.attributeSyncMinutes,
  },
  [QUEUES.webhookEvent]: {
    options: () => WEBHOOK_EVENT_RETRY,
    pollingIntervalSeconds: 1,
  },
  [QUEUES.webhookDeliver]: {
    options: (config) => webhookDeliverRetry(config.webhookRetrySeconds),
    // Deliveries wait on other hosts, not on vCenter: a few at once.
    workers: () => 4,
    pollingIntervalSeconds: 1,
    // A delivery whose worker died mid-way (its answer unrecorded) is sent again at once, with the
    // same webhook-id, rather than when pg-boss expires the job.
    owner: { field: 'deliveryId', lockId: (deliveryId) => ownershipLockId(QUEUES.webhookDeliver, deliveryId) },
  },
}

/** The lock owning one job of a queue whose jobs hold one, from the key its data names. */
export function jobOwnerLockId(queue: QueueName, key: string): string {
  const owner = QUEUE_REGISTRY[queue].owner
  if (!owner) throw new Error(`the jobs of ${queue} hold no ownership lock`)
  return owner.lockId(key)
}

/**
 * Clone workers of a process: as many as vCenter takes at once, plus half as many standbys that hold
 * the next jobs already fetched and waiting on the limiter, so that a freed slot is taken at once
 * rather than after a worker finishes its clone's attribute writes and fetches again. The limits
 * themselves are enforced across all replicas by the limiter, whatever the number of workers.
 */
export function provisionWorkerCount(limits: Limits): number {
  return limits.perVcenter + Math.ceil(limits.perVcenter / 2)
}

/** Workers of a queue in a process that runs workers. */
export function workersOf(queue: QueueName, config: Config): number {
  return QUEUE_REGISTRY[queue].workers?.(config) ?? 1
}

/** The operation limiter's connections in a process that runs workers: one per worker whose jobs take slots. */
export function operationSlotHolders(config: Config): number {
  return (Object.keys(QUEUE_REGISTRY) as QueueName[])
    .filter((queue) => QUEUE_REGISTRY[queue].operationSlots)
    .reduce((sum, queue) => sum + workersOf(queue, config), 0)
}

/**
 * The ownership pool's connections: one per worker of a queue whose jobs hold an ownership lock, so
 * that a job never waits for a connection before its lock (while it waits, the reaper sees it dead).
 * Connections open on demand; clone provisioning holds its lock on the limiter's connection instead.
 */
export function ownershipHolders(config: Config): number {
  return (Object.keys(QUEUE_REGISTRY) as QueueName[])
    .filter((queue) => QUEUE_REGISTRY[queue].owner)
    .reduce((sum, queue) => sum + workersOf(queue, config), 0)
}

/** Every `minutes` (1..60) past the hour, as a cron expression. */
export function everyMinutesCron(minutes: number): string {
  return minutes >= 60 ? '0 * * * *' : `*/${minutes} * * * *`
}
