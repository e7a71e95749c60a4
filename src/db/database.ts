/**
 * The connection pool, drizzle on top of it, and migrations applied at start under an advisory lock
 * so that several replicas starting together migrate once.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import * as schema from './schema.js'

export type Db = NodePgDatabase<typeof schema>

export interface Database {
  pool: pg.Pool
  db: Db
  /**
   * Connections for session-level locks held across vCenter calls (a parent's snapshot removal or
   * revert): apart from `pool`, so that such a lock never holds one of the requests' connections.
   */
  sessionLocks: pg.Pool
  /** Whether the database answers (SELECT 1): the readiness check. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

const MIGRATIONS_FOLDER = findMigrations(path.dirname(fileURLToPath(import.meta.url)))
/** Any fixed number will do; it only has to be the same in every replica. */
const MIGRATION_LOCK_KEY = 7_301_994_202

/**
 * Time limits of the application's connections. A request that gets no connection within
 * CONNECT_TIMEOUT_MS fails (503 DATABASE_BUSY) instead of queueing for ever; a statement runs at most
 * STATEMENT_TIMEOUT_MS and waits for a lock at most LOCK_TIMEOUT_MS (55P03, also DATABASE_BUSY). The
 * service's transactions are short (no vCenter call inside those that lock pools or parents), so these
 * are far above what they need. Migrations lift both limits on their own connection; pg-boss has its
 * own pool (jobs/boss.ts), and the jobs' ownership and slot locks their own connections.
 */
export const DATABASE_LIMITS = {
  CONNECT_TIMEOUT_MS: 10_000,
  STATEMENT_TIMEOUT_MS: 30_000,
  LOCK_TIMEOUT_MS: 10_000,
} as const

export function openDatabase(url: string, options: { max?: number } = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: DATABASE_LIMITS.CONNECT_TIMEOUT_MS,
    statement_timeout: DATABASE_LIMITS.STATEMENT_TIMEOUT_MS,
    lock_timeout: DATABASE_LIMITS.LOCK_TIMEOUT_MS,
  })
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  const sessionLocks = new pg.Pool({
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: DATABASE_LIMITS.CONNECT_TIMEOUT_MS,
    statement_timeout: DATABASE_LIMITS.STATEMENT_TIMEOUT_MS,
    application_name: 'session-locks',
  })
  sessionLocks.on('error', () => {})
  return {
    pool,
    db: drizzle(pool, { schema }),
    sessionLocks,
    ping: () =>
      pool.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    close: async () => {
      await Promise.all([pool.end(), sessionLocks.end()])
    },
  }
}

export async function runMigrations(pool: pg.Pool): Promise<void> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    // Migrations may be long, and wait for another replica's: no time limit on this connection, which
    // is discarded afterwards rather than handed back with these settings.
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0')
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    try {
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER })
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  } catch (err) {
    broken = err as Error
    throw err
  } finally {
    client.release(broken ?? true)
  }
}

/**
 * The migrations folder: the nearest `migrations/` with drizzle's journal above this module, so that
 * it is found from src/db (tsx) and from dist/db (the compiled image) alike.
 */
export function findMigrations(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'migrations')
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate
    if (path.dirname(dir) === dir) throw new Error(`no migrations/meta/_journal.json above ${from}`)
  }
}
