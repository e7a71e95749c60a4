/** The pg-boss job queue, in the same PostgreSQL, and the connections its jobs hold their ownership locks on. */
import fp from 'fastify-plugin'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import { openOwnershipPool } from './ownership.js'
import { STOP_GRACE_MS, startQueue, stopQueue } from './queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss
    /** Where jobs hold their ownership locks (src/jobs/ownership.ts). */
    jobOwnership: pg.Pool
    /** boss.work for the service's workers: see `work` below. */
    work<T extends object>(
      queue: string,
      options: Omit<PgBoss.WorkOptions, 'includeMetadata'>,
      handler: (jobs: PgBoss.JobWithMetadata<T>[]) => Promise<unknown>,
    ): Promise<string>
  }
}

export default fp(
  async function queuePlugin(app, opts: { databaseUrl: string }) {
    let stopping = false
    const boss = await startQueue(opts.databaseUrl, (err) => {
      // Connections cut by the database's own shutdown are expected once we are stopping.
      const summary = { message: err.message, code: (err as { code?: string }).code }
      if (stopping) app.log.debug({ err: summary }, 'job queue error while stopping')
      else app.log.error({ err: summary }, 'job queue error')
    })
    app.decorate('boss', boss)
    const ownership = openOwnershipPool(opts.databaseUrl)
    app.decorate('jobOwnership', ownership)

    // pg-boss stops a worker only once its handler has returned, and keeps polling (a timer) until every
    // worker has stopped. A handler still waiting for an answer when the grace period is over would
    // keep the process alive forever, so it is abandoned then: its job stays active, and the reaper
    // hands it back to a live worker (every job is safe to repeat).
    let abandon!: () => void
    const abandoned = new Promise<void>((resolve) => (abandon = resolve))
    app.decorate('work', <T extends object>(
      queue: string,
      options: Omit<PgBoss.WorkOptions, 'includeMetadata'>,
      handler: (jobs: PgBoss.JobWithMetadata<T>[]) => Promise<unknown>,
    ) => boss.work<T>(queue, { ...options, includeMetadata: true }, (jobs) => Promise.race([handler(jobs), abandoned])))
    app.addHook('preClose', async () => {
      setTimeout(() => {
        app.log.warn('jobs still running after the grace period are abandoned; other workers will take them')
        abandon()
      }, STOP_GRACE_MS + 1_000).unref()
    })
    app.addHook('onClose', async () => {
      stopping = true
      await stopQueue(boss)
      // After the running jobs: they hold their locks until they end.
      await ownership.end()
    })
  },
  { name: 'queue', dependencies: ['database'] },
)
