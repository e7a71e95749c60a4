/** The pg-boss job queue, in the same PostgreSQL. */
import fp from 'fastify-plugin'
import type PgBoss from 'pg-boss'
import { startQueue, stopQueue } from '../../jobs/queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss
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
    app.addHook('onClose', async () => {
      stopping = true
      await stopQueue(boss)
    })
  },
  { name: 'queue', dependencies: ['database'] },
)
