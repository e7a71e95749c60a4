/**
 * Drift records: each active pool's ready clones as the reconciler compares them with vCenter, the
 * findings kept on the pool, and the records of a reconcile (clones found missing marked destroyed,
 * the deployment that powers on and renames back).
 */
import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import type { PoolDrift, RecordedClone } from '../../domain/drift.js'
import type { Database, Db } from '../database.js'
import { clones, deployments, pools, type DeploymentRow, type PoolRow, type RecordedError } from '../schema.js'
import { withJobTransaction, type TransactionSql } from '../job-transaction.js'
import { derivedDeployment } from './deployments.js'

export interface DriftClone extends RecordedClone {
  instanceUuid: string
  poolId: string
  deploymentId: string
}

export class DriftRepository {
  private readonly db: Db

  constructor(private readonly database: Database) {
    this.db = database.db
  }

  async activePools(): Promise<PoolRow[]> {
    return this.db.select().from(pools).where(eq(pools.status, 'active')).orderBy(asc(pools.name))
  }

  /** The ready clones (made, with a moref) of these pools: what is compared with vCenter. */
  async readyClones(poolIds: string[]): Promise<DriftClone[]> {
    if (poolIds.length === 0) return []
    const rows = await this.db
      .select({
        id: clones.id,
        name: clones.name,
        number: clones.number,
        moref: clones.moref,
        instanceUuid: clones.instanceUuid,
        poolId: deployments.poolId,
        deploymentId: clones.deploymentId,
      })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(inArray(deployments.poolId, poolIds), eq(clones.status, 'ready'), isNotNull(clones.moref)))
      .orderBy(asc(clones.number))
    return rows.map((r) => ({ ...r, moref: r.moref!, poolId: r.poolId! }))
  }

  async saveDrift(poolId: string, drift: PoolDrift): Promise<void> {
    await this.db
      .update(pools)
      .set({ drift, driftCheckedAt: new Date(drift.checkedAt) })
      .where(eq(pools.id, poolId))
  }

  /** A clone vCenter holds under another moref (re-registered), found again by its instance UUID. */
  async updateMoref(cloneId: string, moref: string): Promise<void> {
    await this.db.update(clones).set({ moref, updatedAt: sql`now()` }).where(eq(clones.id, cloneId))
  }

  /**
   * Clones gone from vCenter: marked destroyed with the reason (their records kept, their names and
   * numbers free), then `redeploy` runs; if it is refused, the marks are undone and the refusal thrown,
   * so that the next check finds them missing again. The step is recorded once the redeploy is accepted.
   */
  async replaceMissing<T>(cloneIds: string[], error: RecordedError, redeploy: () => Promise<T>): Promise<T> {
    await this.db
      .update(clones)
      .set({ status: 'destroyed', destroyedAt: sql`now()`, error, taskMoref: null, updatedAt: sql`now()` })
      .where(and(inArray(clones.id, cloneIds), eq(clones.status, 'ready')))
    let result: T
    try {
      result = await redeploy()
    } catch (err) {
      await this.db
        .update(clones)
        .set({ status: 'ready', destroyedAt: null, error: null, updatedAt: sql`now()` })
        .where(and(inArray(clones.id, cloneIds), eq(clones.status, 'destroyed')))
      throw err
    }
    await this.database.pool.query(
      `INSERT INTO clone_steps (clone_id, step, outcome, detail, error)
       SELECT id, 'destroyed', 'skipped', $2, $3::jsonb FROM unnest($1::uuid[]) AS id`,
      [cloneIds, error.message, JSON.stringify(error)],
    )
    return result
  }

  /**
   * Records a reconcile deployment of the pool (parent and snapshot copied from `source`, the
   * deployment that made the clones it repairs) and lets `enqueue` add its job, in one transaction.
   */
  async createReconcile(
    input: { pool: { id: string; name: string }; requester: string; source: DeploymentRow; count: number },
    enqueue: (sql: TransactionSql, deploymentId: string) => Promise<void>,
  ): Promise<DeploymentRow> {
    return withJobTransaction(this.database.pool, async (tx) => {
      const [deployment] = await tx.db
        .insert(deployments)
        .values(
          derivedDeployment(input.source, {
            kind: 'reconcile',
            pool: input.pool,
            requester: input.requester,
            startNumber: input.source.startNumber,
            count: input.count,
          }),
        )
        .returning()
      if (!deployment) throw new Error('insert into deployments returned no row')
      await enqueue(tx.sql, deployment.id)
      return deployment
    })
  }

  /** Closes a reconcile deployment (its repairs are steps of existing clones, not clones of its own). */
  async finishDeployment(id: string, status: 'succeeded' | 'failed', error?: RecordedError): Promise<void> {
    await this.db
      .update(deployments)
      .set({ status, error: error ?? null, finishedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(deployments.id, id), sql`${deployments.finishedAt} IS NULL`))
  }
}
