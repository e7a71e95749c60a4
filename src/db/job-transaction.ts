/**
 * A transaction that records rows and queues their pg-boss jobs together: both exist, or neither.
 * A client of our own rather than db.transaction(): pg-boss needs the raw connection to insert its
 * jobs in the same transaction.
 */
import { drizzle } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import type { Db } from './database.js'
import * as schema from './schema.js'

/** Runs SQL on the transaction's connection: how jobs join the transaction. */
export interface TransactionSql {
  // pg-boss's own executeSql types its rows so; a narrower type would not accept it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  executeSql(text: string, values: unknown[]): Promise<{ rows: any[] }>
}

export interface JobTransaction {
  /** drizzle on the transaction's connection. */
  db: Db
  /** Plain SQL on the same connection. */
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>
  /** For pg-boss's insert (and pg_notify), in this transaction. */
  sql: TransactionSql
}

export async function withJobTransaction<T>(pool: pg.Pool, work: (tx: JobTransaction) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await work({
      db: drizzle(client, { schema }) as unknown as Db,
      query: (text, values) => client.query(text, values),
      sql: { executeSql: (text, values) => client.query(text, values) },
    })
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/**
 * `work` in the caller's transaction when it has one (a pool's or a parent's locked transaction:
 * everything done under the lock runs on the lock's own connection), else in a transaction of its own.
 */
export function inTransaction<T>(pool: pg.Pool, tx: JobTransaction | undefined, work: (tx: JobTransaction) => Promise<T>): Promise<T> {
  return tx ? work(tx) : withJobTransaction(pool, work)
}

/** The database a read runs on: the caller's transaction's, or the pool's. */
export function onDb(db: Db, tx: { db: Db } | undefined): Db {
  return tx?.db ?? db
}
