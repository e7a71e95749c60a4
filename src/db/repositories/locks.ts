/**
 * Every advisory-lock and notification statement of the service, for the job runtime (ownership,
 * operation slots, queue set-up) and the reaper. Each takes the connection it must run on: a session
 * lock belongs to that connection, and is freed with it.
 */
import pg from 'pg'

/** A pool or one of its clients: what a statement runs on. */
type Sql = Pick<pg.ClientBase, 'query'>
/** A job transaction's connection, as pg-boss takes it. */
type JobSql = { executeSql(text: string, values: unknown[]): Promise<unknown> }

/** Takes the session lock `key` (a 64-bit id as text) if free; true when this connection now holds it. */
export async function tryLock(db: Sql, key: string): Promise<boolean> {
  const { rows } = await db.query<{ mine: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS mine', [key])
  return rows[0]!.mine
}

export async function unlock(db: Sql, key: string): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1::bigint)', [key])
}

/**
 * Whether any session holds the lock `key`. Read from pg_locks rather than by taking the lock: a probe
 * holding it even briefly could turn away the job's own worker.
 */
export async function isLockHeld(db: Sql, key: string): Promise<boolean> {
  // A bigint key shows as its high half in classid and its low half in objid, with objsubid 1.
  const bits = BigInt.asUintN(64, BigInt(key))
  const { rows } = await db.query<{ held: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::oid AND objid = $2::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     ) AS held`,
    [(bits >> 32n).toString(), (bits & 0xffff_ffffn).toString()],
  )
  return rows[0]!.held
}

/**
 * One free slot of a scope (the lock pairs (scope, 0..limit-1)), taken on this connection; undefined
 * when all are held. LIMIT 1 stops the scan at the first slot locked, so at most one lock is taken.
 */
export async function tryTakeSlot(db: Sql, scope: number, limit: number): Promise<number | undefined> {
  const { rows } = await db.query<{ s: number }>(
    'SELECT s FROM generate_series(0, $2::int - 1) AS s WHERE pg_try_advisory_lock($1::int, s) LIMIT 1',
    [scope, limit],
  )
  return rows[0]?.s
}

export async function releaseSlot(db: Sql, scope: number, slot: number): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1::int, $2::int)', [scope, slot])
}

/** NOTIFY on one of the service's channels, on a connection or inside a job transaction. */
export async function notify(db: Sql | JobSql, channel: string): Promise<void> {
  if ('executeSql' in db) await db.executeSql('SELECT pg_notify($1, $2)', [channel, ''])
  else await db.query('SELECT pg_notify($1, $2)', [channel, ''])
}

/** Runs `fn` holding the session lock `key` on a connection of its own, one process at a time. */
export async function withExclusiveLock<T>(connectionString: string, key: number, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [key])
    return await fn()
  } finally {
    // Ending the session frees the lock.
    await client.end()
  }
}

/**
 * Locks keyed on a name: the pair (scope, hashtext(name)), e.g. a pool's (POOL_LOCK_SCOPE, pool name)
 * or a parent's (PARENT_LOCK_SCOPE, parent moref). The transaction-scoped ones are taken inside a
 * transaction and freed by its COMMIT or ROLLBACK; none waits: false when another holds the lock.
 */
/** A connection, or a job transaction's (JobTransaction.query). */
type AnySql = { query(text: string, values: unknown[]): Promise<{ rows: unknown[] }> }

export const POOL_LOCK_SCOPE = 730199420
export const PARENT_LOCK_SCOPE = 730199421

/** Exclusive, until the end of the transaction on `db`. */
export async function tryXactLock(db: AnySql, scope: number, name: string): Promise<boolean> {
  const { rows } = await db.query('SELECT pg_try_advisory_xact_lock($1::int, hashtext($2)) AS ok', [scope, name])
  return (rows[0] as { ok: boolean }).ok
}

/** Shared (with other shared holders, not with an exclusive one), until the end of the transaction on `db`. */
export async function tryXactLockShared(db: AnySql, scope: number, name: string): Promise<boolean> {
  const { rows } = await db.query('SELECT pg_try_advisory_xact_lock_shared($1::int, hashtext($2)) AS ok', [scope, name])
  return (rows[0] as { ok: boolean }).ok
}

/** Exclusive, for the session of `db` (a connection of its own) until unlockNamed or the session ends. */
export async function tryNamedLock(db: AnySql, scope: number, name: string): Promise<boolean> {
  const { rows } = await db.query('SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok', [scope, name])
  return (rows[0] as { ok: boolean }).ok
}

export async function unlockNamed(db: AnySql, scope: number, name: string): Promise<void> {
  await db.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [scope, name])
}

/** A team's quota: its usage is read and its new clones recorded under it (repositories/teams.ts). */
export const TEAM_LOCK_SCOPE = 730199425

/** Exclusive until the end of the transaction on `db`, waiting for it: for short transactions only. */
export async function xactLock(db: AnySql, scope: number, name: string): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [scope, name])
}
