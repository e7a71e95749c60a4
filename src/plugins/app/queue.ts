/** The pg-boss job queue, in the same PostgreSQL. */
import fp from 'fastify-plugin'
import type PgBoss from 'pg-boss'
import { startQueue } from '../../jobs/queue.js'

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss
  }
}

export default fp(
  async function queuePlugin(app, opts: { databaseUrl: string }) {
    const boss = await startQueue(opts.databaseUrl, (err) => app.log.error({ err }, 'job queue error'))
    app.decorate('boss', boss)
    // graceful: let running handlers finish (up to the timeout) before the pool closes.
    app.addHook('onClose', () => boss.stop({ graceful: true, timeout: 20_000, wait: true }))
  },
  { name: 'queue', dependencies: ['database'] },
)
