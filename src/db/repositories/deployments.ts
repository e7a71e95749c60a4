/**
 * Deployments and their clones: creation (with their jobs, in one transaction), progress updates
 * and reads. Every write of a clone's step happens as the step happens, so a restart loses nothing.
 */
import { randomUUID } from 'node:crypto'
import { and, asc, desc, eq, inArray, isNotNull, isNull, notInArray, or, sql } from 'drizzle-orm'
import type { DeploymentPlan } from '../../domain/plan.js'
import { DESTROY_KINDS, NOT_LIVE_STATUSES, NOT_YET_POWERED_ON_STATUSES, type CloneStatus, type DeploymentKind } from '../../domain/progress.js'
import { withJobTransaction, type TransactionSql } from '../job-transaction.js'
import type { AttributeStore } from './attributes.js'
import type { AttributeValue } from '../../domain/attributes.js'
import type { Database, Db } from '../database.js'
import {
  cloneSteps,
  clones,
  deployments,
  type CloneRow,
  type DeploymentRow,
  type RecordedError,
} from '../schema.js'

export interface NewDeployment {
  plan: DeploymentPlan
  requester: string
  ticket?: string
  /** The pool this deployment grows (or rebuilds). */
  poolName?: string
  /** Default `deploy`; `reconcile` when it deploys a pool's missing clones again. */
  kind?: DeploymentKind
  /** A rebuild's clones to replace, one per planned name (same order). */
  replacing?: CloneRow[]
}

export type { TransactionSql }

/**
 * A deployment of a pool that works on clones another deployment made (destroying them, repairing
 * them): its parent, snapshot and placement fields copied from that `source`. Values to insert.
 */
export function derivedDeployment(
  source: DeploymentRow,
  fields: { kind: DeploymentKind; poolName: string; requester: string; startNumber: number; count: number },
) {
  return {
    id: randomUUID(),
    ...fields,
    parentName: source.parentName,
    parentMoref: source.parentMoref,
    parentInstanceUuid: source.parentInstanceUuid,
    snapshotName: source.snapshotName,
    snapshotMoref: source.snapshotMoref,
    snapshotCreatedAt: source.snapshotCreatedAt,
    folderMoref: source.folderMoref,
    resourcePoolMoref: source.resourcePoolMoref,
    prefix: source.prefix,
    customizationAttribute: source.customizationAttribute,
    customizationSpec: source.customizationSpec,
    hostLimit: source.hostLimit,
    copiedAttributes: [],
    attributeValues: [],
  }
}

/** Some clone to be replaced stopped being live between the check and the insert. */
export class ReplacedClonesChanged extends Error {
  constructor() {
    super('a clone to replace is no longer live')
  }
}

export interface DeploymentWithClones {
  deployment: DeploymentRow
  clones: CloneRow[]
  /** A rebuild's replaced clones (those its clones' replaces_clone_id name). */
  replaced?: CloneRow[]
}

export class DeploymentRepository {
  private readonly db: Db
  private attributes?: AttributeStore

  constructor(private readonly database: Database) {
    this.db = database.db
  }

  /**
   * Attribute values are written (and secrets sealed) by the attribute store, attached by
   * src/assets/plugin.ts at start-up; without it, nothing with attributes is written.
   */
  useAttributeStore(store: AttributeStore): void {
    this.attributes = store
  }

  private store(): AttributeStore {
    if (!this.attributes) throw new Error('DeploymentRepository: no attribute store attached (src/assets/plugin.ts attaches it)')
    return this.attributes
  }

  /**
   * Records the deployment and its clones (each with the instance UUID it will be created with), and
   * lets `enqueue` add the jobs inside the same transaction: both exist, or neither.
   *
   * A rebuild (`replacing`, in the order of the plan's names) records each clone as `waiting`, linked
   * to the clone it replaces, and claims the replaced clones for this deployment (their
   * destroy_deployment_id); a replaced clone that is no longer live refuses the whole rebuild.
   */
  async create(
    input: NewDeployment,
    enqueue: (sql: TransactionSql, cloneIds: string[]) => Promise<void>,
  ): Promise<DeploymentWithClones> {
    const { plan, replacing } = input
    if (replacing && replacing.length !== plan.names.length) throw new Error('a rebuild replaces one clone per planned name')
    // The id is chosen here: the parent's secret values are sealed to it.
    const deploymentId = randomUUID()
    const attributeValues = this.store().sealDeploymentValues(deploymentId, plan.attributeValues)
    return withJobTransaction(this.database.pool, async (tx) => {
      const empty = plan.names.length === 0
      const [deployment] = await tx.db
        .insert(deployments)
        .values({
          id: deploymentId,
          kind: input.kind ?? 'deploy',
          requester: input.requester,
          ticket: input.ticket ?? null,
          parentName: plan.parent.name,
          parentMoref: plan.parent.moref,
          parentInstanceUuid: plan.parent.instanceUuid ?? null,
          snapshotName: plan.snapshot.name,
          snapshotMoref: plan.snapshot.moref,
          snapshotCreatedAt: plan.snapshot.createdAt ? new Date(plan.snapshot.createdAt) : null,
          folderMoref: plan.parent.folder,
          resourcePoolMoref: plan.parent.resourcePool ?? null,
          prefix: plan.prefix,
          startNumber: plan.startNumber,
          count: plan.count,
          customizationAttribute: plan.customizationAttribute,
          customizationSpec: plan.customizationSpec,
          hostLimit: plan.hostLimit,
          maxConcurrent: plan.maxConcurrent ?? null,
          copiedAttributes: plan.copiedAttributes,
          attributeValues,
          warnings: plan.warnings,
          poolName: input.poolName ?? null,
          // A rebuild of a pool without clones has nothing to wait for.
          ...(empty ? { status: 'succeeded' as const, startedAt: new Date(), finishedAt: new Date() } : {}),
        })
        .returning()
      if (!deployment) throw new Error('insert into deployments returned no row')
      if (empty) return { deployment, clones: [] }
      const rows = await tx.db
        .insert(clones)
        .values(
          plan.names.map((name, i) => ({
            deploymentId: deployment.id,
            name,
            number: replacing ? replacing[i]!.number : plan.startNumber + i,
            instanceUuid: randomUUID(),
            hostMoref: plan.placement[i] ?? plan.parent.host ?? null,
            datastoreMoref: plan.parent.datastore ?? null,
            ...(replacing ? { status: 'waiting' as const, replacesCloneId: replacing[i]!.id } : {}),
          })),
        )
        .returning()
      if (replacing) {
        const claimed = await tx.query(
          `UPDATE clones SET destroy_deployment_id = $1, updated_at = now()
            WHERE id = ANY($2::uuid[]) AND status NOT IN ('failed', 'destroyed', 'waiting')`,
          [deployment.id, replacing.map((c) => c.id)],
        )
        if (claimed.rowCount !== replacing.length) throw new ReplacedClonesChanged()
      }
      rows.sort((a, b) => a.number - b.number)
      await enqueue(
        tx.sql,
        rows.map((r) => r.id),
      )
      return { deployment, clones: rows }
    })
  }

  async get(id: string): Promise<DeploymentWithClones | undefined> {
    const [deployment] = await this.db.select().from(deployments).where(eq(deployments.id, id))
    if (!deployment) return undefined
    const rows = await this.db
      .select()
      .from(clones)
      .where(DESTROY_KINDS.includes(deployment.kind) ? eq(clones.destroyDeploymentId, id) : eq(clones.deploymentId, id))
      .orderBy(asc(clones.number))
    const replacedIds = rows.flatMap((c) => (c.replacesCloneId ? [c.replacesCloneId] : []))
    if (replacedIds.length === 0) return { deployment, clones: rows }
    const replaced = await this.db.select().from(clones).where(inArray(clones.id, replacedIds)).orderBy(asc(clones.number))
    return { deployment, clones: rows, replaced }
  }

  async getDeployment(id: string): Promise<DeploymentRow | undefined> {
    const [row] = await this.db.select().from(deployments).where(eq(deployments.id, id))
    return row
  }

  /** Of these names, those a live clone of the service already holds (possibly not yet in vCenter). */
  async namesInUse(names: string[]): Promise<string[]> {
    if (names.length === 0) return []
    const rows = await this.db
      .select({ name: clones.name })
      .from(clones)
      .where(and(inArray(clones.name, names), notInArray(clones.status, ['failed', 'destroyed'])))
    return rows.map((r) => r.name)
  }

  /** Live clones of a parent per host they were placed on, for placement under the host limit. */
  async parentClonesByHost(parentMoref: string): Promise<Map<string, number>> {
    const rows = await this.db
      .select({ host: clones.hostMoref, n: sql<number>`count(*)::int` })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(eq(deployments.parentMoref, parentMoref), notInArray(clones.status, [...NOT_LIVE_STATUSES])))
      .groupBy(clones.hostMoref)
    return new Map(rows.flatMap((r) => (r.host ? [[r.host, r.n] as const] : [])))
  }

  /** Where vCenter reports each VM runs, in one statement. */
  /** Clones to be made on a datastore that are not powered on yet (their space is still to come). */
  async clonesNotYetPoweredOn(datastoreMoref: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(clones)
      .where(and(eq(clones.datastoreMoref, datastoreMoref), inArray(clones.status, [...NOT_YET_POWERED_ON_STATUSES])))
    return row?.n ?? 0
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
    const [row] = await this.db
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
    return row
  }

  async getClone(id: string): Promise<CloneRow | undefined> {
    const [row] = await this.db.select().from(clones).where(eq(clones.id, id))
    return row
  }

  async updateClone(
    id: string,
    fields: Partial<Pick<CloneRow, 'status' | 'moref' | 'taskMoref' | 'hostMoref' | 'reportedHostMoref' | 'error' | 'readyAt'>>,
  ): Promise<void> {
    await this.db
      .update(clones)
      .set({ ...fields, updatedAt: sql`now()` })
      .where(eq(clones.id, id))
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
    await this.updateClone(id, { status: 'failed', error, taskMoref: null })
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
    return this.store().openDeploymentValues(deployment)
  }

  /** The provisioner's copy of the parent's values to a clone, recorded in its history as the deployment's. */
  async saveAttributes(cloneId: string, deploymentId: string, values: AttributeValue[]): Promise<void> {
    await this.store().recordDeploymentCopy(cloneId, deploymentId, values)
  }

  /** Deployments with clones not yet final, oldest first: what a restarted service resumes. */
  async unfinishedCloneIds(): Promise<string[]> {
    const rows = await this.db
      .select({ id: clones.id })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(isNull(deployments.finishedAt), notInArray(clones.status, ['ready', 'failed', 'destroyed'])))
      .orderBy(asc(deployments.createdAt), asc(clones.number))
    return rows.map((r) => r.id)
  }

  async recent(limit = 50): Promise<DeploymentRow[]> {
    return this.db.select().from(deployments).orderBy(desc(deployments.createdAt)).limit(limit)
  }
}
