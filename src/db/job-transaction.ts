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
