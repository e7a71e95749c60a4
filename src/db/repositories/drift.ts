/**
 * Drift records: each active pool's ready clones as the reconciler compares them with vCenter, the
 * findings kept on the pool, and the records of a reconcile (clones found missing marked destroyed,
 * the deployment that powers on and renames back).
 */
import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import type { PoolDrift, RecordedClone } from '../../domain/drift.js'
import type { PoolRef } from './pools.js'
import type { Database, Db } from '../database.js'
import { clones, deployments, pools, type CloneRow, type DeploymentRow, type PoolRow, type RecordedError } from '../schema.js'
import { inTransaction, onDb, type JobTransaction, type TransactionSql } from '../job-transaction.js'
import { derivedDeployment } from './deployments.js'
import type { WebhookOutbox } from './webhooks.js'
import { withJobTransaction } from '../job-transaction.js'

export interface DriftClone extends RecordedClone {
  instanceUuid: string
  poolId: string
  deploymentId: string
}

export class DriftRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    /** Records the events of drift found and of reconciles finished, in their transactions. */
    private readonly outbox?: WebhookOutbox,
  ) {
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

  /**
   * The clones of these pools that failed in the guest step (GUEST_CUSTOMIZATION_FAILED or _TIMEOUT)
   * and may still have their VM: a moref recorded, not marked destroyed, the newest failed record of
   * its number, and no live clone (a replacement waiting included) holding that number. Whether the
   * VM is really there, and ours, is vCenter's to say (by instance UUID). By number.
   */
  async guestFailedClones(poolIds: string[], tx?: JobTransaction): Promise<(CloneRow & { poolId: string })[]> {
    if (poolIds.length === 0) return []
    const rows = await onDb(this.db, tx)
      .select({ clone: clones, poolId: deployments.poolId })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(
        and(
          inArray(deployments.poolId, poolIds),
          eq(clones.status, 'failed'),
          sql`${clones.error}->>'code' IN ('GUEST_CUSTOMIZATION_FAILED', 'GUEST_CUSTOMIZATION_TIMEOUT')`,
          isNotNull(clones.moref),
          sql`${clones.destroyedAt} IS NULL`,
          sql`NOT EXISTS (
            SELECT 1 FROM clones o JOIN deployments od ON od.id = o.deployment_id
             WHERE od.pool_id = ${deployments.poolId} AND o.number = ${clones.number} AND o.id <> ${clones.id}
               AND (o.status NOT IN ('failed', 'destroyed') OR (o.status = 'failed' AND o.moref IS NOT NULL AND o.created_at > ${clones.createdAt})))`,
        ),
      )
      .orderBy(asc(clones.number))
    return rows.map((r) => ({ ...r.clone, poolId: r.poolId! }))
  }

  async saveDrift(poolId: string, drift: PoolDrift): Promise<void> {
    await withJobTransaction(this.database.pool, async (tx) => {
      // pool.drift_found when drift appears (not again at every check while it lasts).
      const [before] = await tx.db.select({ drift: pools.drift }).from(pools).where(eq(pools.id, poolId)).for('update')
      const [row] = await tx.db
        .update(pools)
        .set({ drift, driftCheckedAt: new Date(drift.checkedAt) })
        .where(eq(pools.id, poolId))
        .returning()
      if (row && drift.status === 'found' && before?.drift?.status !== 'found') {
        await this.outbox?.record(
          'pool.drift_found',
          { requester: row.requester, team: row.team },
          {
            pool: row.name,
            poolId: row.id,
            requester: row.requester,
            team: row.team,
            checkedAt: drift.checkedAt,
            findings: drift.findings,
            hosts: drift.hosts,
            hostLimit: drift.hostLimit,
            links: { pool: `/v1/pools/${encodeURIComponent(row.name)}` },
          },
          tx,
        )
      }
    })
  }

  /** A clone vCenter holds under another moref (re-registered), found again by its instance UUID. */
  async updateMoref(cloneId: string, moref: string): Promise<void> {
    await this.db.update(clones).set({ moref, updatedAt: sql`now()` }).where(eq(clones.id, cloneId))
  }

  /**
   * Clones gone from vCenter, in the reconcile's transaction `tx`: marked destroyed with the reason
   * (their records kept, their names and numbers free for the redeploy recorded in the same
   * transaction) and the step recorded. If the redeploy is refused, the transaction rolls back and
   * the next check finds them missing again.
   */
  async markMissing(cloneIds: string[], error: RecordedError, tx: JobTransaction): Promise<void> {
    await tx.db
      .update(clones)
      .set({ status: 'destroyed', destroyedAt: sql`now()`, error, taskMoref: null, updatedAt: sql`now()` })
      .where(and(inArray(clones.id, cloneIds), eq(clones.status, 'ready')))
    await tx.query(
      `INSERT INTO clone_steps (clone_id, step, outcome, detail, error)
       SELECT id, 'destroyed', 'skipped', $2, $3::jsonb FROM unnest($1::uuid[]) AS id`,
      [cloneIds, error.message, JSON.stringify(error)],
    )
  }

  /**
   * Records a reconcile deployment of the pool (parent and snapshot copied from `source`, the
   * deployment that made the clones it repairs) and lets `enqueue` add its job, in one transaction.
   */
  async createReconcile(
    input: { pool: PoolRef; requester: string; source: DeploymentRow; count: number },
    enqueue: (sql: TransactionSql, deploymentId: string) => Promise<void>,
    tx?: JobTransaction,
  ): Promise<DeploymentRow> {
    return inTransaction(this.database.pool, tx, async (tx) => {
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
    await withJobTransaction(this.database.pool, async (tx) => {
      const [row] = await tx.db
        .update(deployments)
        .set({ status, error: error ?? null, finishedAt: sql`now()`, updatedAt: sql`now()` })
        .where(and(eq(deployments.id, id), sql`${deployments.finishedAt} IS NULL`))
        .returning()
      if (row) await this.outbox?.deploymentFinished(row, tx)
    })
  }
}
