/**
 * Hands back the jobs of workers that died. pg-boss marks a job active when a worker claims it and
 * would only notice the worker's death when the job expires (5 to 15 minutes later). Every live job of
 * the queues below (QUEUE_REGISTRY's `owner`) holds an ownership lock for its whole run (clone
 * provisioning through OperationLimiter, the others through withOwnership), which PostgreSQL frees when the worker's
 * connection dies: an active job whose lock is free has no worker, and is failed so that pg-boss
 * retries it at once; the retry resumes it from what was recorded.
 */
import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import { activeJobsStartedBefore } from '../db/repositories/job-queue.js'
import { isLockFree } from './ownership.js'
import { QUEUE_REGISTRY } from './queues.js'

/** A queue the reaper sweeps, and the lock its job takes, from the job's data. */
export interface ReapedQueue {
  queue: string
  /** Undefined for data without the key (never reaped). */
  lockId(data: Record<string, unknown>): string | undefined
}

/** The queues whose jobs hold an ownership lock (src/jobs/queues.ts). */
export const REAPED_QUEUES: readonly ReapedQueue[] = Object.entries(QUEUE_REGISTRY).flatMap(([queue, { owner }]) =>
  owner
    ? [{ queue, lockId: (data: Record<string, unknown>) => (typeof data[owner.field] === 'string' ? owner.lockId(data[owner.field] as string) : undefined) }]
    : [],
)

export interface ReaperOptions {
  intervalMs?: number
  /** A job claimed this recently may not have taken its lock yet. */
  minAgeSeconds?: number
}

export class JobReaper {
  private timer?: NodeJS.Timeout
  private running?: Promise<number>

  constructor(
    private readonly pool: pg.Pool,
    private readonly boss: PgBoss,
    private readonly log: FastifyBaseLogger,
    private readonly options: ReaperOptions = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .catch((err) => (this.log.warn({ err: String(err) }, 'reaping orphaned jobs failed'), 0))
        .finally(() => (this.running = undefined))
    }, this.options.intervalMs ?? 5_000)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
  }

  /** Fails the active jobs no live worker owns; returns how many. */
  async sweep(): Promise<number> {
    const byQueue = new Map(REAPED_QUEUES.map((q) => [q.queue, q]))
    const rows = await activeJobsStartedBefore(this.pool, [...byQueue.keys()], this.options.minAgeSeconds ?? 10)
    const reaped: Record<string, number> = {}
    for (const row of rows) {
      const lockId = byQueue.get(row.name)?.lockId(row.data ?? {})
      if (lockId === undefined || !(await isLockFree(this.pool, lockId))) continue
      await this.boss.fail(row.name, row.id, { reason: 'the worker running this job stopped' })
      reaped[row.name] = (reaped[row.name] ?? 0) + 1
    }
    const total = Object.values(reaped).reduce((a, b) => a + b, 0)
    if (total > 0) this.log.warn({ reaped }, 'handed back the jobs of workers that stopped')
    return total
  }
}
