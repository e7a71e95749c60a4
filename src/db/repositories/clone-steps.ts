/**
 * A clone's steps as its job carries them out (provisioning, destroying, repairing): status
 * transitions, the vCenter task in flight, each step recorded as it completes (so that a restart loses
 * nothing), a rebuild's replacements, the parent's attribute values the provisioner copies to the
 * clone, and the deployment's own status as its clones' steps move it (started, finished once every
 * clone is final). What the jobs write; deployments.ts creates deployments and reads them.
 */
import { and, asc, eq, inArray, isNotNull, isNull, notInArray, or, sql } from 'drizzle-orm'
import type { AttributeValue } from '../../domain/attributes.js'
import type { Warning } from '../../domain/plan.js'
import type { CloneStatus } from '../../domain/progress.js'
import type { AttributeStore } from './attributes.js'
import type { DeploymentRepository } from './deployments.js'
import type { WebhookOutbox } from './webhooks.js'
import type { Database, Db } from '../database.js'
import { withJobTransaction } from '../job-transaction.js'
import { cloneSteps, clones, deployments, type CloneRow, type CloneStepRow, type DeploymentRow, type RecordedError } from '../schema.js'

export class CloneStepRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    /** Writes the copied values (secrets sealed) and opens the deployment's sealed ones. */
    private readonly attributes: AttributeStore,
    private readonly deployments: DeploymentRepository,
    /** Records the deployment.* event in the transaction that closes it. */
    private readonly outbox?: WebhookOutbox,
  ) {
    this.db = database.db
  }

  /** The deployment a clone's job works for. */
  getDeployment(id: string): Promise<DeploymentRow | undefined> {
    return this.deployments.getDeployment(id)
  }

  /** The deployment runs from its first clone's first step (set once). */
  async markStarted(id: string): Promise<void> {
    await this.db
      .update(deployments)
      .set({ status: 'running', startedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(deployments.id, id), isNull(deployments.startedAt)))
  }

  /**
   * Closes the deployment once every clone is final. Safe under concurrency: each clone calls it after
   * committing its own final status, so the last one to finish always sees all the others.
   */
  async finishIfDone(id: string): Promise<DeploymentRow | undefined> {
    // A deployment's clones: those it makes, or (strip back, scale down) those it destroys.
    const ofDeployment = or(eq(clones.deploymentId, id), eq(clones.destroyDeploymentId, id))
    const unfinished = this.db
      .select({ one: sql`1` })
      .from(clones)
      .where(and(ofDeployment, notInArray(clones.status, ['ready', 'failed', 'destroyed'])))
    // A rebuild's failed replacement counts once, not again for the clone it could not replace.
    const failed = sql`SELECT count(*)::int FROM clones c
      WHERE c.status = 'failed' AND (c.deployment_id = ${id} OR (c.destroy_deployment_id = ${id}
        AND NOT EXISTS (SELECT 1 FROM clones r WHERE r.replaces_clone_id = c.id AND r.deployment_id = ${id})))`
    return withJobTransaction(this.database.pool, async (tx) => {
      const [row] = await tx.db
        .update(deployments)
        .set({
          status: sql`CASE WHEN (${failed}) > 0 THEN 'failed' ELSE 'succeeded' END`,
          error: sql`CASE WHEN (${failed}) > 0 THEN jsonb_build_object(
            'code', 'CLONES_FAILED',
            'message', (${failed})::text || ' of ' || ${deployments.count}::text || ' clones failed; see each clone''s error') END`,
          finishedAt: sql`now()`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(deployments.id, id), isNull(deployments.finishedAt), sql`NOT EXISTS (${unfinished})`))
        .returning()
      if (row) await this.outbox?.deploymentFinished(row, tx)
      return row
    })
  }

  /** The morefs of a deployment's clones that have one. */
  async cloneMorefs(deploymentId: string): Promise<string[]> {
    const rows = await this.db
      .select({ moref: clones.moref })
      .from(clones)
      .where(and(eq(clones.deploymentId, deploymentId), isNotNull(clones.moref)))
    return rows.map((r) => r.moref!)
  }

  async recordReportedHosts(hosts: Map<string, string>): Promise<void> {
    if (hosts.size === 0) return
    await this.database.pool.query(
      `UPDATE clones c SET reported_host_moref = h.host
         FROM unnest($1::text[], $2::text[]) AS h(moref, host)
        WHERE c.moref = h.moref AND c.reported_host_moref IS DISTINCT FROM h.host`,
      [[...hosts.keys()], [...hosts.values()]],
    )
  }

  async getClone(id: string): Promise<CloneRow | undefined> {
    const [row] = await this.db.select().from(clones).where(eq(clones.id, id))
    return row
  }

  async updateClone(
    id: string,
    fields: Partial<Pick<CloneRow, 'status' | 'moref' | 'taskMoref' | 'hostMoref' | 'reportedHostMoref' | 'error' | 'readyAt' | 'linked' | 'guestWaitSince' | 'guest' | 'destroyedAt'>>,
  ): Promise<void> {
    await this.db
      .update(clones)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(eq(clones.id, id))
  }

  /**
   * Adds a warning to the deployment unless it has one with that code already: one statement, so
   * clones finding the same thing at once add it once (the second waits on the row and re-checks).
   */
  async addDeploymentWarning(deploymentId: string, warning: Warning): Promise<void> {
    await this.db
      .update(deployments)
      .set({ warnings: sql`${deployments.warnings} || ${JSON.stringify([warning])}::jsonb`, updatedAt: sql`now()` })
      .where(and(eq(deployments.id, deploymentId), sql`NOT ${deployments.warnings} @> ${JSON.stringify([{ code: warning.code }])}::jsonb`))
  }

  /**
   * Records a step of a clone; with `then`, also moves the clone on (its status, its moref once known,
   * no task in flight) in the same statement: one round trip between two vCenter tasks, not two.
   */
  async recordStep(
    step: {
      cloneId: string
      step: CloneStatus
      outcome: 'succeeded' | 'failed' | 'skipped'
      taskMoref?: string | null
      detail?: string
      error?: RecordedError
    },
    then?: { status: CloneStatus; moref?: string },
  ): Promise<void> {
    if (then) {
      await this.database.pool.query(
        `WITH step AS (
           INSERT INTO clone_steps (clone_id, step, outcome, task_moref, detail, error) VALUES ($1, $2, $3, $4, $5, $6)
         )
         UPDATE clones SET status = $7, moref = coalesce($8, moref), task_moref = NULL, updated_at = now() WHERE id = $1`,
        [step.cloneId, step.step, step.outcome, step.taskMoref ?? null, step.detail ?? null, step.error ?? null, then.status, then.moref ?? null],
      )
      return
    }
    await this.db.insert(cloneSteps).values({
      cloneId: step.cloneId,
      step: step.step,
      outcome: step.outcome,
      taskMoref: step.taskMoref ?? null,
      detail: step.detail ?? null,
      error: step.error ?? null,
    })
  }

  async failClone(id: string, error: RecordedError): Promise<void> {
    await this.settleClone(id, { status: 'failed', error, taskMoref: null })
  }

  /** The clone is final (ready or failed): its clone.* event is recorded in the same transaction. */
  async settleClone(id: string, fields: Partial<Pick<CloneRow, 'status' | 'error' | 'taskMoref' | 'readyAt'>>): Promise<void> {
    await withJobTransaction(this.database.pool, async (tx) => {
      await tx.db
        .update(clones)
        .set({ ...fields, updatedAt: sql`now()` })
        .where(eq(clones.id, id))
      await this.outbox?.cloneSettled(id, tx)
    })
  }

  /**
   * A replacement's clone is gone (destroyed now, or found absent): in one transaction the replaced
   * record is marked destroyed (kept, with its provenance) and the replacement takes the name
   * (waiting -> pending). False when the replacement was no longer waiting.
   */
  async completeReplacement(replaced: CloneRow, replacement: CloneRow, deploymentId: string, detail: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx
        .update(clones)
        .set({ status: 'destroyed', destroyedAt: sql`now()`, taskMoref: null, updatedAt: sql`now()` })
        .where(and(eq(clones.id, replaced.id), notInArray(clones.status, ['failed', 'destroyed'])))
      const taken = await tx
        .update(clones)
        .set({ status: 'pending', updatedAt: sql`now()` })
        .where(and(eq(clones.id, replacement.id), eq(clones.status, 'waiting')))
        .returning({ id: clones.id })
      await tx.insert(cloneSteps).values([
        { cloneId: replaced.id, step: 'destroyed', outcome: 'succeeded', detail: `replaced by deployment ${deploymentId}: ${detail}` },
        { cloneId: replacement.id, step: 'waiting', outcome: 'succeeded', detail: `${replaced.name} (${replaced.moref ?? 'no VM'}) ${detail}` },
      ])
      return taken.length > 0
    })
  }

  /** A replacement failed: the clone it replaces, if this deployment was destroying it, failed too. */
  async failReplaced(replacedId: string, deploymentId: string, error: RecordedError): Promise<void> {
    await this.db
      .update(clones)
      .set({ status: 'failed', error, taskMoref: null, updatedAt: sql`now()` })
      .where(and(eq(clones.id, replacedId), eq(clones.destroyDeploymentId, deploymentId), eq(clones.status, 'destroying')))
  }

  /** The parent's values a deployment copies to each clone, secrets opened: for the provisioner only. */
  attributeValuesOf(deployment: Pick<DeploymentRow, 'id' | 'attributeValues'>): AttributeValue[] {
    return this.attributes.openDeploymentValues(deployment)
  }

  /** The provisioner's copy of the parent's values to a clone, recorded in its history as the deployment's. */
  async saveAttributes(cloneId: string, deploymentId: string, values: AttributeValue[]): Promise<void> {
    await this.attributes.recordDeploymentCopy(cloneId, deploymentId, values)
  }

  /** Whether every clone of the deployment (made or destroyed by it) has reached a final status. */
  async allClonesSettled(id: string): Promise<boolean> {
    const [row] = await this.db
      .select({ one: sql`1` })
      .from(clones)
      .where(and(or(eq(clones.deploymentId, id), eq(clones.destroyDeploymentId, id)), notInArray(clones.status, ['ready', 'failed', 'destroyed'])))
      .limit(1)
    return row === undefined
  }

  /** The steps of each of these clones, in the order they were recorded, by clone id. */
  async stepsByCloneIds(ids: readonly string[]): Promise<Map<string, CloneStepRow[]>> {
    const rows = await this.db
      .select()
      .from(cloneSteps)
      .where(inArray(cloneSteps.cloneId, [...ids]))
      .orderBy(asc(cloneSteps.id))
    const groups = new Map<string, CloneStepRow[]>()
    for (const row of rows) {
      const list = groups.get(row.cloneId)
      if (list) list.push(row)
      else groups.set(row.cloneId, [row])
    }
    return groups
  }
}
