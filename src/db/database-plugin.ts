/**
 * The database: pool, migrations (under an advisory lock) and the repositories, each built once here
 * with what it needs (the attribute store, which seals secrets with the key resolved here, among them).
 */
import fp from 'fastify-plugin'
import type { SecretsConfig } from '../config/config.js'
import { openDatabase, runMigrations, type Database } from './database.js'
import { AttributeStore } from './repositories/attributes.js'
import { CloneStepRepository } from './repositories/clone-steps.js'
import { CloneRepository } from './repositories/clones.js'
import { DeploymentRepository } from './repositories/deployments.js'
import { DriftRepository } from './repositories/drift.js'
import { ParentRepository } from './repositories/parents.js'
import { PoolRepository } from './repositories/pools.js'
import { resolveKeyring } from './secrets-key.js'
import { WebhookOutbox, WebhookRepository } from './repositories/webhooks.js'

export interface Repositories {
  attributes: AttributeStore
  clones: CloneRepository
  deployments: DeploymentRepository
  cloneSteps: CloneStepRepository
  pools: PoolRepository
  parents: ParentRepository
  drift: DriftRepository
  webhookOutbox: WebhookOutbox
  /** Set when the keyring is known (databasePlugin): subscriptions' secrets are sealed with it. */
  webhooks?: WebhookRepository
}

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
    repositories: Repositories
  }
}

export interface DatabasePluginOptions {
  databaseUrl: string
  secrets: SecretsConfig
  /** Where the embedded mode's secrets key is kept (secrets-key.ts). */
  dataDir: string
}

export default fp(
  async function databasePlugin(app, opts: DatabasePluginOptions) {
    const database = openDatabase(opts.databaseUrl)
    await runMigrations(database.pool)
    app.decorate('database', database)
    app.addHook('onClose', () => database.close())
    const { keyring, source } = await resolveKeyring(opts.secrets, opts.dataDir)
    app.log.debug({ keyId: keyring.currentKeyId, source }, 'secrets key')
    const repositories = createRepositories(database, new AttributeStore(database.db, keyring, opts.secrets.attributePatterns))
    repositories.webhooks = new WebhookRepository(database, keyring)
    app.decorate('repositories', repositories)
  },
  { name: 'database' },
)

/** Every repository, on one database and one attribute store. */
export function createRepositories(database: Database, attributes: AttributeStore): Repositories {
  const deployments = new DeploymentRepository(database, attributes)
  const webhookOutbox = new WebhookOutbox(database)
  return {
    webhookOutbox,
    attributes,
    clones: new CloneRepository(database.db, attributes),
    deployments,
    cloneSteps: new CloneStepRepository(database, attributes, deployments, webhookOutbox),
    pools: new PoolRepository(database, webhookOutbox),
    parents: new ParentRepository(database, webhookOutbox),
    drift: new DriftRepository(database, webhookOutbox),
  }
}
