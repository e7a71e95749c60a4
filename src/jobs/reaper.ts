/**
 * Hands back the jobs of workers that died. pg-boss marks a job active when a worker claims it and
 * would only notice the worker's death when the job expires (minutes later). Every live clone job
 * holds its clone's ownership lock (see OperationLimiter), which PostgreSQL frees when the worker's
 * connection dies: an active job whose lock is free has no worker, and is failed so that pg-boss
 * retries it at once; the retry resumes it from what was recorded.
 */
import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import { isOrphaned } from './operation-limiter.js'
import { QUEUES } from './queue.js'

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

  /** Fails the active clone jobs no live worker owns; returns how many. */
  async sweep(): Promise<number> {
    const { rows } = await this.pool.query<{ id: string; clone_id: string }>(
      `SELECT id, data->>'cloneId' AS clone_id FROM pgboss.job
        WHERE name = $1 AND state = 'active' AND started_on < now() - make_interval(secs => $2)`,
      [QUEUES.provisionClone, this.options.minAgeSeconds ?? 10],
    )
    if (rows.length === 0) return 0
    const client = await this.pool.connect()
    let reaped = 0
    try {
      for (const row of rows) {
        if (!(await isOrphaned(client, row.clone_id))) continue
        await this.boss.fail(QUEUES.provisionClone, row.id, { reason: 'the worker running this job stopped' })
        reaped++
      }
    } finally {
      client.release()
    }
    if (reaped > 0) this.log.warn({ reaped }, 'handed back the jobs of workers that stopped')
    return reaped
  }
}
