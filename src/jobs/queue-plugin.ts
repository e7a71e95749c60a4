/**
 * The job runtime: the pg-boss job queue, in the same PostgreSQL, with every queue of queues.ts
 * created at start; the connections its jobs hold their ownership locks on; and, in a process that
 * runs workers, the one LISTEN connection and the one operation limiter of the process, the reaper,
 * the workers of the handlers modules register (app.jobs.register) and the schedules.
 *
 * Stopping (onClose): running jobs finish (they hold slots and ownership locks), then the limiter
 * goes, then the LISTEN connection, then the ownership connections. Registered after the vCenter
 * gateway so that it stops before the gateway closes: running jobs still use it.
 */
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import type { Config } from '../config/config.js'
import { PgListener } from '../db/notifications.js'
import { STOP_GRACE_MS, ensureQueues, startQueue, stopQueue } from './boss.js'
import { OperationLimiter, type LimiterObserver } from './operation-limiter.js'
import { openOwnershipPool } from './ownership.js'
import { QUEUE_REGISTRY, everyMinutesCron, operationSlotHolders, ownershipHolders, workersOf, type QueueData, type QueueName } from './queues.js'
import { JobReaper } from './reaper.js'

/** A job as a handler gets it. */
export type Job<T> = PgBoss.JobWithMetadata<T>

export type JobHandler<T> = (job: Job<T>) => Promise<unknown>

/** The attempt a job is on: 0 for its first; the last when pg-boss will not retry it again. */
export function attemptOf(job: Job<unknown>): { attempt: number; lastAttempt: boolean } {
  return { attempt: job.retryCount, lastAttempt: job.retryCount >= job.retryLimit }
}

export interface JobRuntime {
  /**
   * Runs `handler` for the queue's jobs, one job at a time per worker, with the workers, polling and
   * schedule its registry entry declares. Only in a process that runs workers.
   */
  register<Q extends QueueName>(queue: Q, handler: JobHandler<QueueData[Q]>): Promise<void>
  /** Aborted when the process starts stopping: a job waiting (for a slot, for vCenter) gives up. */
  readonly stopping: AbortSignal
}

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss
    /** Where jobs hold their ownership locks (src/jobs/ownership.ts). */
    jobOwnership: pg.Pool
    jobs: JobRuntime
    /** The process's one LISTEN connection (src/db/notifications.ts). Only in a process that runs workers. */
    listener: PgListener
    /**
     * The process's one operation limiter, a connection for each worker whose jobs take slots
     * (clone provisioning and destroying). Only in a process that runs workers.
     */
    limiter: OperationLimiter
  }
}

export interface QueuePluginOptions {
  databaseUrl: string
  config: Config
  /** False for an API-only process: the queues are created, and nothing more runs here. */
  runWorkers: boolean
  /** Told as the limiter's slots are taken and given back (metrics). */
  limiterObserver?: LimiterObserver
}

export default fp(
  async function queuePlugin(app, opts: QueuePluginOptions) {
    let stopping = false
    const boss = await startQueue(opts.databaseUrl, (err) => {
      // Connections cut by the database's own shutdown are expected once we are stopping.
      const summary = { message: err.message, code: (err as { code?: string }).code }
      if (stopping) app.log.debug({ err: summary }, 'job queue error while stopping')
      else app.log.error({ err: summary }, 'job queue error')
    })
    const carried = await ensureQueues(
      opts.databaseUrl,
      boss,
      Object.entries(QUEUE_REGISTRY).map(([name, queue]) => ({ name, ...queue.options(opts.config) })),
    )
    if (carried > 0) app.log.info({ jobs: carried }, 'carried the jobs of the pg-boss 10 schema over to pg-boss 11')
    app.decorate('boss', boss)
    const ownership = openOwnershipPool(opts.databaseUrl, Math.max(1, ownershipHolders(opts.config)))
    app.decorate('jobOwnership', ownership)

    const shutdown = new AbortController()
    let listener: PgListener | undefined
    let limiter: OperationLimiter | undefined
    let reaper: JobReaper | undefined
    if (opts.runWorkers) {
      // A connection for each worker whose jobs take slots: provisioning and destroying share the limits.
      const holders = operationSlotHolders(opts.config)
      listener = new PgListener(opts.databaseUrl)
      limiter = new OperationLimiter(opts.databaseUrl, holders, listener, opts.limiterObserver)
      await limiter.start()
      // Every worker waiting for a slot or for vCenter listens to it (and stops listening when done).
      setMaxListeners(2 * holders, shutdown.signal)
      reaper = new JobReaper(app.database.pool, boss, app.log.child({ component: 'reaper' }))
      reaper.start()
    }
    if (listener && limiter) {
      app.decorate('listener', listener)
      app.decorate('limiter', limiter)
    } else {
      const workersOnly = (what: string) => () => {
        throw new Error(`${what}: this process runs no workers`)
      }
      app.decorate('listener', { getter: workersOnly('listener') })
      app.decorate('limiter', { getter: workersOnly('limiter') })
    }

    // pg-boss stops a worker only once its handler has returned, and keeps polling (a timer) until every
    // worker has stopped. A handler still waiting for an answer when the grace period is over would
    // keep the process alive forever, so it is abandoned then: its job stays active, and the reaper
    // hands it back to a live worker (every job is safe to repeat).
    let abandon!: () => void
    const abandoned = new Promise<void>((resolve) => (abandon = resolve))

    const register = async <Q extends QueueName>(queue: Q, handler: JobHandler<QueueData[Q]>): Promise<void> => {
      if (!opts.runWorkers) throw new Error(`the workers of ${queue}: this process runs no workers`)
      const definition = QUEUE_REGISTRY[queue]
      const options = { batchSize: 1, pollingIntervalSeconds: definition.pollingIntervalSeconds, includeMetadata: true as const }
      const run = async ([job]: Job<QueueData[Q]>[]): Promise<void> => {
        if (job) await handler(job)
      }
      const workerIds: string[] = []
      for (let i = 0, n = workersOf(queue, opts.config); i < n; i++) {
        workerIds.push(await boss.work<QueueData[Q]>(queue, options, (jobs) => Promise.race([run(jobs), abandoned])))
      }
      if (definition.wakeOn) {
        await listener!.on(definition.wakeOn, () => {
          for (const id of workerIds) boss.notifyWorker(id)
        })
      }
      if (definition.everyMinutes) {
        const minutes = definition.everyMinutes(opts.config)
        if (minutes > 0) await boss.schedule(queue, everyMinutesCron(minutes))
        else await boss.unschedule(queue)
      }
    }
    app.decorate('jobs', { register, stopping: shutdown.signal })

    app.addHook('preClose', async () => {
      setTimeout(() => {
        app.log.warn('jobs still running after the grace period are abandoned; other workers will take them')
        abandon()
      }, STOP_GRACE_MS + 1_000).unref()
    })
    app.addHook('onClose', async () => {
      stopping = true
      shutdown.abort()
      await reaper?.stop()
      // Running jobs hold slots and ownership locks: let them finish (the queue's graceful stop)
      // before the limiter, the LISTEN connection and the ownership connections go.
      await stopQueue(boss)
      await limiter?.close()
      await listener?.close()
      await ownership.end()
    })
  },
  { name: 'queue', dependencies: ['database'] },
)
