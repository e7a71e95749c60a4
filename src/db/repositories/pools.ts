/**
 * Pools and their clones. A pool's clones are the clones of the deployments that name it (read by
 * CloneRepository); destroying them (strip back, scale down) is a deployment of its own whose clones
 * are marked, never deleted.
 */
import { and, asc, desc, eq, inArray, isNull, ne, sql } from 'drizzle-orm'
import type { Database, Db } from '../database.js'
import { inTransaction, onDb, withJobTransaction, type JobTransaction, type TransactionSql } from '../job-transaction.js'
import { POOL_LOCK_SCOPE, tryXactLock } from './locks.js'
import { derivedDeployment } from './deployments.js'
import type { WebhookOutbox } from './webhooks.js'
import { teamCondition } from './team-filter.js'
import type { TeamFilter } from '../../domain/teams.js'
import { clones, deployments, pools, type CloneRow, type DeploymentRow, type PoolRow } from '../schema.js'

export type NewPool = Omit<PoolRow, 'createdAt' | 'updatedAt' | 'status' | 'snapshotName' | 'snapshotMoref' | 'drift' | 'driftCheckedAt'> &
  Partial<Pick<PoolRow, 'snapshotName' | 'snapshotMoref'>>

/** A pool's record and its name: what a deployment of the pool refers to. */
export type PoolRef = Pick<PoolRow, 'id' | 'name' | 'team'>

export class PoolRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    /** Records pool.stripped / pool.expired in the transaction that marks the pool. */
    private readonly outbox?: WebhookOutbox,
  ) {
    this.db = database.db
  }

  /**
   * The ticket a pool operation was asked for, and the X-Request-Id of its request, on the deployments
   * it made (in its transaction); a value already recorded is kept.
   */
  async tagDeployments(ids: string[], tags: { ticket?: string | null; requestId?: string | null }, tx: JobTransaction): Promise<void> {
    if (ids.length === 0) return
    if (tags.ticket) await tx.db.update(deployments).set({ ticket: tags.ticket }).where(and(inArray(deployments.id, ids), isNull(deployments.ticket)))
    if (tags.requestId) {
      await tx.db.update(deployments).set({ requestId: tags.requestId }).where(and(inArray(deployments.id, ids), isNull(deployments.requestId)))
    }
  }

  /** The pool stripped back (by a caller, or its expiry): marked, and its event recorded, in `tx`. */
  async markStripped(
    id: string,
    by: string,
    deploymentId: string,
    correlation: { ticket: string | null; requestId: string | null },
    tx: JobTransaction,
  ): Promise<PoolRow | undefined> {
    const row = await this.update(id, { status: 'stripped' }, tx)
    if (row) await this.outbox?.poolStripped(row, by, deploymentId, correlation, tx)
    return row
  }

  /**
   * The pool of this name: the current one (not stripped), else the latest stripped one. Earlier
   * pools of the name keep their records, read through their deployments. With `teams`, only those
   * teams' pools (another team's is as if it did not exist).
   */
  async get(name: string, tx?: JobTransaction, teams?: TeamFilter): Promise<PoolRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .select()
      .from(pools)
      .where(and(eq(pools.name, name), teamCondition(pools.team, teams)))
      .orderBy(sql`${pools.status} = 'stripped'`, desc(pools.createdAt))
      .limit(1)
    return row
  }

  async byId(id: string, tx?: JobTransaction): Promise<PoolRow | undefined> {
    const [row] = await onDb(this.db, tx).select().from(pools).where(eq(pools.id, id))
    return row
  }

  /** Every pool name with its pool as get() reads it, by name (of these teams only, when given). */
  async list(teams?: TeamFilter): Promise<PoolRow[]> {
    return this.db
      .selectDistinctOn([pools.name])
      .from(pools)
      .where(teamCondition(pools.team, teams))
      .orderBy(asc(pools.name), sql`${pools.status} = 'stripped'`, desc(pools.createdAt))
  }

  /**
   * A new pool record, even under a stripped pool's name (whose record, deployments and clones stay
   * as they are). A unique violation of `pools_current_name_idx` when a current pool holds the name.
   */
  async insert(pool: NewPool, tx?: JobTransaction): Promise<PoolRow> {
    const [row] = await onDb(this.db, tx).insert(pools).values(pool).returning()
    if (!row) throw new Error('insert into pools returned no row')
    return row
  }

  async update(
    id: string,
    fields: Partial<Pick<PoolRow, 'size' | 'expiresAt' | 'status' | 'parentName' | 'snapshotName' | 'snapshotMoref'>>,
    tx?: JobTransaction,
  ): Promise<PoolRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .update(pools)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(eq(pools.id, id))
      .returning()
    return row
  }

  /** Active pools other than `except`. */
  async others(except: string, tx?: JobTransaction): Promise<PoolRow[]> {
    return onDb(this.db, tx)
      .select()
      .from(pools)
      .where(and(ne(pools.name, except), eq(pools.status, 'active')))
  }

  /** The pool's latest deployments (of its own record, not of earlier pools of its name), newest first. */
  async deployments(poolId: string, limit = 10, tx?: JobTransaction): Promise<DeploymentRow[]> {
    return onDb(this.db, tx)
      .select()
      .from(deployments)
      .where(eq(deployments.poolId, poolId))
      .orderBy(desc(deployments.createdAt))
      .limit(limit)
  }

  /** A deployment of the pool still running: the pool is busy. */
  async unfinishedDeployment(poolId: string, tx?: JobTransaction): Promise<DeploymentRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .select()
      .from(deployments)
      .where(and(eq(deployments.poolId, poolId), isNull(deployments.finishedAt)))
      .limit(1)
    return row
  }

  /** Active pools whose expiry has passed. */
  async expired(now = new Date()): Promise<PoolRow[]> {
    return this.db
      .select()
      .from(pools)
      .where(and(eq(pools.status, 'active'), sql`${pools.expiresAt} <= ${now.toISOString()}::timestamptz`))
  }

  /**
   * Runs `work` in one transaction holding the pool's lock (transaction-scoped, on the transaction's
   * own connection), and commits; undefined at once, without waiting, when another transaction holds
   * it. `work` must do everything on `tx` (the repositories' methods take it) and call nothing slow:
   * no vCenter call, which is made before (plan first, then lock and record).
   */
  async withPoolLock<T>(name: string, work: (tx: JobTransaction) => Promise<T>): Promise<{ value: T } | undefined> {
    return withJobTransaction(this.database.pool, async (tx) => {
      if (!(await tryXactLock(tx, POOL_LOCK_SCOPE, name))) return undefined
      return { value: await work(tx) }
    })
  }

  /**
   * Records a deployment that destroys these clones (copying parent and snapshot from `source`),
   * marks them destroying, and lets `enqueue` add one job per clone, in one transaction.
   */
  async createDestroy(
    input: { pool: PoolRef; kind: 'scale-down' | 'strip'; requester: string; source: DeploymentRow; clones: CloneRow[] },
    enqueue: (sql: TransactionSql, cloneIds: string[], deploymentId: string) => Promise<void>,
    tx?: JobTransaction,
  ): Promise<DeploymentRow> {
    const { source } = input
    const numbers = input.clones.map((c) => c.number)
    return inTransaction(this.database.pool, tx, async (tx) => {
      const [deployment] = await tx.db
        .insert(deployments)
        .values({
          ...derivedDeployment(source, {
            kind: input.kind,
            pool: input.pool,
            requester: input.requester,
            startNumber: numbers.length ? Math.min(...numbers) : source.startNumber,
            count: input.clones.length,
          }),
          ...(input.clones.length === 0 ? { status: 'succeeded' as const, startedAt: new Date(), finishedAt: new Date() } : {}),
        })
        .returning()
      if (!deployment) throw new Error('insert into deployments returned no row')
      const ids = input.clones.map((c) => c.id)
      if (ids.length > 0) {
        await tx.query(
          `UPDATE clones SET status = 'destroying', destroy_deployment_id = $1, updated_at = now()
            WHERE id = ANY($2::uuid[]) AND status NOT IN ('failed', 'destroyed')`,
          [deployment.id, ids],
        )
        await enqueue(tx.sql, ids, deployment.id)
      }
      return deployment
    })
  }

  async markDestroyed(cloneId: string): Promise<void> {
    await this.db
      .update(clones)
      .set({ status: 'destroyed', destroyedAt: sql`now()`, taskMoref: null, updatedAt: sql`now()` })
      .where(eq(clones.id, cloneId))
  }
}
