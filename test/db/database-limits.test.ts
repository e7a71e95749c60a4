/**
 * The application's connections have time limits, and their failures are told apart: a connection
 * not given in time, a new one the server does not answer in time, a lock or a statement past its
 * limit answer 503 DATABASE_BUSY; a unique
 * violation is found under drizzle's wrapper (its `cause`).
 */
import t from 'tap'
import net from 'node:net'
import pg from 'pg'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import { openDatabase, DATABASE_LIMITS } from '../../src/db/database.js'
import { uniqueViolation } from '../../src/db/pg-errors.js'
import { databaseBusyFrom } from '../../src/errors.js'

t.test('the pool is opened with connect, statement and lock time limits', async (t) => {
  const database = openDatabase('postgres://nobody@127.0.0.1:1/none')
  try {
    const options = database.pool.options as unknown as Record<string, unknown>
    t.equal(options.connectionTimeoutMillis, DATABASE_LIMITS.CONNECT_TIMEOUT_MS)
    t.equal(options.statement_timeout, DATABASE_LIMITS.STATEMENT_TIMEOUT_MS)
    t.equal(options.lock_timeout, DATABASE_LIMITS.LOCK_TIMEOUT_MS)
    t.ok(DATABASE_LIMITS.LOCK_TIMEOUT_MS < DATABASE_LIMITS.STATEMENT_TIMEOUT_MS)
  } finally {
    await database.close()
  }
})

t.test('too busy is 503 DATABASE_BUSY, along the causes', async (t) => {
  const wrapped = (err: Error) => new DrizzleQueryError('select 1', [], err)
  const connect = databaseBusyFrom(new Error('timeout exceeded when trying to connect'))
  t.equal(connect?.code, 'DATABASE_BUSY')
  t.equal(connect?.statusCode, 503)
  t.equal(databaseBusyFrom(wrapped(Object.assign(new Error('lock timeout'), { code: '55P03' })))?.code, 'DATABASE_BUSY')
  t.equal(databaseBusyFrom(wrapped(Object.assign(new Error('statement timeout'), { code: '57014' })))?.code, 'DATABASE_BUSY')
  t.equal(databaseBusyFrom(new Error('something else')), undefined)
  t.equal(databaseBusyFrom(undefined), undefined)
})

t.test('a new connection that the server does not answer in time is 503 DATABASE_BUSY, not a 500', async (t) => {
  // A TCP server that accepts and never speaks: pg gives up after connectionTimeoutMillis.
  const sockets = new Set<net.Socket>()
  const silent = net.createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => silent.close(() => resolve()))
  })
  const { port } = silent.address() as net.AddressInfo
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'nobody', database: 'none', connectionTimeoutMillis: 300 })
  const err = await pool.query('select 1').then(
    () => undefined,
    (e: unknown) => e,
  )
  await pool.end().catch(() => undefined)
  t.match(String((err as Error | undefined)?.message), /connection timeout/i, 'pg reports the timeout')
  const wrapped = new DrizzleQueryError('select 1', [], err as Error)
  t.equal(databaseBusyFrom(wrapped)?.code, 'DATABASE_BUSY')
  t.equal(databaseBusyFrom(wrapped)?.statusCode, 503)
})

t.test('a unique violation is found under drizzle\'s wrapper', async (t) => {
  const pgError = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505', constraint: 'clones_live_name_idx' })
  t.equal(uniqueViolation(new DrizzleQueryError('insert', [], pgError)), 'clones_live_name_idx')
  t.equal(uniqueViolation(pgError), 'clones_live_name_idx')
  t.equal(uniqueViolation(new Error('other')), undefined)
})
