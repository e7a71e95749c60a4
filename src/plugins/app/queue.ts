/** The pg-boss job queue, in the same PostgreSQL, and the connections its jobs hold their ownership locks on. */
import fp from 'fastify-plugin'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import { openOwnershipPool } from '../../jobs/ownership.js'
import { startQueue, stopQueue } from '../../jobs/queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss
    /** Where jobs hold their ownership locks (src/jobs/ownership.ts). */
    jobOwnership: pg.Pool
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
    app.addHook('onClose', async () => {
      stopping = true
      await stopQueue(boss)
      // After the running jobs: they hold their locks until they end.
      await ownership.end()
    })
  },
  { name: 'queue', dependencies: ['database'] },
)
