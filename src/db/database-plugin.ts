/** The database: pool, migrations (under an advisory lock) and the repositories. */
import fp from 'fastify-plugin'
import { openDatabase, runMigrations, type Database } from './database.js'
import { CloneRepository } from './repositories/clones.js'
import { DeploymentRepository } from './repositories/deployments.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
    repositories: { deployments: DeploymentRepository; clones: CloneRepository }
  }
}

export default fp(
  async function databasePlugin(app, opts: { databaseUrl: string }) {
    const database = openDatabase(opts.databaseUrl)
    await runMigrations(database.pool)
    app.decorate('database', database)
    app.decorate('repositories', {
      deployments: new DeploymentRepository(database),
      clones: new CloneRepository(database.db),
    })
    app.addHook('onClose', () => database.close())
  },
  { name: 'database' },
)
