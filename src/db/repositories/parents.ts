/**
 * Parent preparations (which live clones use a parent's snapshots is CloneRepository.liveOfParent's).
 */
import { and, count, desc, eq, isNull, notInArray, sql } from 'drizzle-orm'
import type { Database, Db } from '../database.js'
import type { TeamFilter } from '../../domain/teams.js'
import { teamCondition } from './team-filter.js'
import {
  parentPreparations,
  pools,
  type PreparationRow,
  type PreparationStatus,
  type PreparationStep,
  type RecordedError,
} from '../schema.js'
import { inTransaction, onDb, withJobTransaction, type JobTransaction, type TransactionSql } from '../job-transaction.js'
import { PARENT_LOCK_SCOPE, tryNamedLock, tryXactLockShared, unlockNamed } from './locks.js'
import type { WebhookOutbox } from './webhooks.js'

export type NewPreparation = Pick<
  PreparationRow,
  'parentName' | 'parentMoref' | 'parentInstanceUuid' | 'snapshotName' | 'description' | 'recompose' | 'requester' | 'team'
> & { ticket?: string | null; requestId?: string | null }

export class ParentRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    /** Records preparation.succeeded/failed in the transaction that finishes it. */
    private readonly outbox?: WebhookOutbox,
  ) {
    this.db = database.db
  }

  /**
   * Records the preparation and lets `enqueue` add its job in the same transaction. Undefined when
   * another preparation of the parent is unfinished (the unique index refused the row).
   */
  async createPreparation(
    input: NewPreparation,
    enqueue: (sql: TransactionSql, id: string) => Promise<void>,
    tx?: JobTransaction,
  ): Promise<PreparationRow | undefined> {
    return inTransaction(this.database.pool, tx, async (tx) => {
      const [row] = await tx.db.insert(parentPreparations).values(input).onConflictDoNothing().returning()
      if (row) await enqueue(tx.sql, row.id)
      return row
    })
  }

  /** `teams`: only a preparation of these teams (a caller's read). */
  async get(id: string, teams?: TeamFilter): Promise<PreparationRow | undefined> {
    const [row] = await this.db
      .select()
      .from(parentPreparations)
      .where(and(eq(parentPreparations.id, id), teamCondition(parentPreparations.team, teams)))
    return row
  }

  /** The parent's preparations of these teams, newest first. */
  async list(parentMoref: string, teams: TeamFilter, limit = 20): Promise<PreparationRow[]> {
    return this.db
      .select()
      .from(parentPreparations)
      .where(and(eq(parentPreparations.parentMoref, parentMoref), teamCondition(parentPreparations.team, teams)))
      .orderBy(desc(parentPreparations.createdAt))
      .limit(limit)
  }

  async unfinished(parentMoref: string, tx?: JobTransaction): Promise<PreparationRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .select()
      .from(parentPreparations)
      .where(and(eq(parentPreparations.parentMoref, parentMoref), isNull(parentPreparations.finishedAt)))
    return row
  }

  /** The latest preparation of the parent by this team that asked for this snapshot name. */
  async latestFor(parentMoref: string, snapshotName: string, team: string, tx?: JobTransaction): Promise<PreparationRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .select()
      .from(parentPreparations)
      .where(
        and(eq(parentPreparations.parentMoref, parentMoref), eq(parentPreparations.snapshotName, snapshotName), eq(parentPreparations.team, team)),
      )
      .orderBy(desc(parentPreparations.createdAt))
      .limit(1)
    return row
  }

  /** Snapshot morefs some preparation of the parent made (a snapshot of that name not among them was not ours). */
  async preparedSnapshots(parentMoref: string, tx?: JobTransaction): Promise<Set<string>> {
    const rows = await onDb(this.db, tx)
      .select({ moref: parentPreparations.snapshotMoref })
      .from(parentPreparations)
      .where(and(eq(parentPreparations.parentMoref, parentMoref), sql`${parentPreparations.snapshotMoref} IS NOT NULL`))
    return new Set(rows.map((r) => r.moref!))
  }

  /** How many live (not stripped) pools of teams other than these are made from the parent of this name. */
  async otherTeamsPools(parentName: string, teams: readonly string[], tx?: JobTransaction): Promise<number> {
    const [row] = await onDb(this.db, tx)
      .select({ n: count() })
      .from(pools)
      .where(and(eq(pools.parentName, parentName), sql`${pools.status} <> 'stripped'`, teams.length > 0 ? notInArray(pools.team, [...teams]) : undefined))
    return row?.n ?? 0
  }

  async markRunning(id: string): Promise<void> {
    await this.db
      .update(parentPreparations)
      .set({ status: 'running', startedAt: sql`coalesce(${parentPreparations.startedAt}, now())`, updatedAt: sql`now()` })
      .where(and(eq(parentPreparations.id, id), isNull(parentPreparations.finishedAt)))
  }

  async addStep(id: string, step: Omit<PreparationStep, 'at'>): Promise<void> {
    const entry: PreparationStep = { ...step, at: new Date().toISOString() }
    await this.db
      .update(parentPreparations)
      .set({ steps: sql`${parentPreparations.steps} || ${JSON.stringify([entry])}::jsonb`, updatedAt: sql`now()` })
      .where(eq(parentPreparations.id, id))
  }

  async recordSnapshotTask(id: string, taskMoref: string): Promise<void> {
    await this.db.update(parentPreparations).set({ snapshotTaskMoref: taskMoref, updatedAt: sql`now()` }).where(eq(parentPreparations.id, id))
  }

  async recordSnapshot(id: string, moref: string, createdAt: Date | null): Promise<void> {
    await this.db
      .update(parentPreparations)
      .set({ snapshotMoref: moref, snapshotCreatedAt: createdAt, updatedAt: sql`now()` })
      .where(eq(parentPreparations.id, id))
  }

  async addDeployments(id: string, deploymentIds: string[]): Promise<void> {
    if (deploymentIds.length === 0) return
    await this.db
      .update(parentPreparations)
      .set({ deploymentIds: sql`${parentPreparations.deploymentIds} || ${JSON.stringify(deploymentIds)}::jsonb`, updatedAt: sql`now()` })
      .where(eq(parentPreparations.id, id))
  }

  async finish(id: string, status: Exclude<PreparationStatus, 'queued' | 'running'>, error?: RecordedError): Promise<void> {
    await withJobTransaction(this.database.pool, async (tx) => {
      const [row] = await tx.db
        .update(parentPreparations)
        .set({ status, error: error ?? null, finishedAt: sql`now()`, updatedAt: sql`now()` })
        .where(and(eq(parentPreparations.id, id), isNull(parentPreparations.finishedAt)))
        .returning()
      if (row && (status === 'succeeded' || status === 'failed') && this.outbox) {
        await this.outbox.record(
          `preparation.${status}`,
          { requester: row.requester, team: row.team },
          {
            preparationId: row.id,
            parent: row.parentName,
            snapshot: { name: row.snapshotName, moref: row.snapshotMoref },
            status: row.status,
            requester: row.requester,
            team: row.team,
            ticket: row.ticket,
            requestId: row.requestId,
            recompose: row.recompose,
            deploymentIds: row.deploymentIds,
            error: row.error ?? null,
            links: { preparation: `/v1/parents/${encodeURIComponent(row.parentName)}/preparations/${row.id}` },
          },
          tx,
        )
      }
    })
  }

  // The parent's lock, keyed on its moref. Accepting work on the parent (a preparation, a deployment:
  // DeploymentRepository.create) takes it shared, in the short transaction that records it; removing
  // or reverting a snapshot takes it exclusively for the session of a connection of its own, across
  // the vCenter task. Neither waits: each is refused (409 PARENT_BUSY) while the other holds it.

  /** `work` in one transaction holding the parent's lock shared; undefined at once when a snapshot operation holds it. */
  async withParentShared<T>(parentMoref: string, work: (tx: JobTransaction) => Promise<T>): Promise<{ value: T } | undefined> {
    return withJobTransaction(this.database.pool, async (tx) => {
      if (!(await tryXactLockShared(tx, PARENT_LOCK_SCOPE, parentMoref))) return undefined
      return { value: await work(tx) }
    })
  }

  /**
   * `work` holding the parent's lock exclusively, for the session of a connection from
   * `database.sessionLocks` (never one of the requests' connections, so that `work` may wait for
   * vCenter and use the application's pool freely); undefined at once when another holds the lock
   * (a snapshot operation, or a transaction accepting work on the parent).
   */
  async withParentExclusive<T>(parentMoref: string, work: () => Promise<T>): Promise<{ value: T } | undefined> {
    const client = await this.database.sessionLocks.connect()
    // A connection that failed a query is discarded: the server frees its lock with it.
    let broken: Error | undefined
    const broke = (err: Error) => {
      broken = err
      throw err
    }
    try {
      if (!(await tryNamedLock(client, PARENT_LOCK_SCOPE, parentMoref).catch(broke))) return undefined
      try {
        return { value: await work() }
      } finally {
        await unlockNamed(client, PARENT_LOCK_SCOPE, parentMoref)
          .catch(broke)
          .catch(() => {})
      }
    } finally {
      client.release(broken)
    }
  }
}
