/**
 * Deployments: creation (with their clones and jobs, in one transaction), the reads that plan one
 * (names in use, clones per host, space still to come), their lifecycle (started, finished once every
 * clone is final), and their listing and progress reads (filtered, keyset-paginated pages, batch reads
 * by many keys at once, progress snapshots for subscriptions). A clone's own steps are in clone-steps.ts.
 */
import { randomUUID } from 'node:crypto'
import { and, asc, desc, eq, inArray, lte, notInArray, sql, type SQL } from 'drizzle-orm'
import { alias, unionAll } from 'drizzle-orm/pg-core'
import type { DeploymentPlan } from '../../domain/plan.js'
import {
  DESTROY_KINDS,
  NOT_LIVE_STATUSES,
  NOT_YET_POWERED_ON_STATUSES,
  type CloneStatus,
  type DeploymentKind,
  type DeploymentStatus,
} from '../../domain/progress.js'
import { ParentBusy } from '../../errors.js'
import { inTransaction, onDb, type JobTransaction, type TransactionSql } from '../job-transaction.js'
import { PARENT_LOCK_SCOPE, tryXactLockShared } from './locks.js'
import { checkQuota, provisionedGBPerClone } from '../../domain/quota.js'
import { lockedQuotaAndUsage } from './teams.js'
import type { AttributeStore } from './attributes.js'
import type { Database, Db } from '../database.js'
import { clones, deployments, type CloneRow, type DeploymentRow } from '../schema.js'
import type { TeamFilter } from '../../domain/teams.js'
import { teamCondition } from './team-filter.js'

export interface NewDeployment {
  plan: DeploymentPlan
  requester: string
  /** The team that owns it (a pool's deployment: the pool's team). */
  team: string
  ticket?: string
  /** The X-Request-Id of the request that caused it. */
  requestId?: string
  /** The pool this deployment grows (or rebuilds): its record and name. */
  pool?: { id: string; name: string }
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
  fields: { kind: DeploymentKind; pool: { id: string; name: string }; requester: string; startNumber: number; count: number },
) {
  const { pool, ...rest } = fields
  return {
    id: randomUUID(),
    ...rest,
    poolId: pool.id,
    poolName: pool.name,
    // A pool's deployments all belong to the pool's team: the source's.
    team: source.team,
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
  /** Read with only the first page of `clones`: every clone's counts, and the cursor of the rest. */
  progress?: { byStep: { status: CloneStatus; n: number }[]; hosts: number }
  clonesNextCursor?: string | null
}

export interface DeploymentFilter {
  status?: DeploymentStatus
  parent?: string
  requester?: string
  /** The external reference it was asked for (or its pool operation was). */
  ticket?: string
  /** The X-Request-Id of the request that caused it. */
  requestId?: string
  /** The pool's name (any of its records: a stripped pool's deployments included). */
  pool?: string
  kind?: DeploymentKind
  /** One owning team; still within `teams` (a team the caller cannot see gives nothing, not an error). */
  team?: string
  /** The teams whose deployments the caller sees (domain/teams.ts); absent: every team's (internal reads). */
  teams?: TeamFilter
}

export type ListedDeployment = DeploymentRow & { cursorAt: string }

export const deploymentCursorKey = (d: ListedDeployment) => [d.cursorAt, d.id]

export interface ProgressSnapshot {
  deploymentId: string
  status: DeploymentStatus
  error: DeploymentRow['error']
  atMicros: number
  clones: {
    id: string
    name: string
    status: CloneStatus
    moref: string | null
    error: CloneRow['error']
    atMicros: number
  }[]
}

export class DeploymentRepository {
  private readonly db: Db

  constructor(
    private readonly database: Database,
    /** Seals the parent's secret values a deployment records. */
    private readonly attributes: AttributeStore,
  ) {
    this.db = database.db
  }

  /**
   * Records the deployment and its clones (each with the instance UUID it will be created with), and
   * lets `enqueue` add the jobs inside the same transaction: both exist, or neither.
   *
   * A rebuild (`replacing`, in the order of the plan's names) records each clone as `waiting`, linked
   * to the clone it replaces, and claims the replaced clones for this deployment (their
   * destroy_deployment_id); a replaced clone that is no longer live refuses the whole rebuild. A
   * reconcile's rebuild replaces clones failed in the guest step instead (their VMs not yet destroyed).
   *
   * The parent's lock is taken shared for the transaction: refused at once (409 PARENT_BUSY) while a
   * snapshot of the parent is being removed or reverted (which holds it exclusively). In the caller's
   * transaction `tx` when given (a pool's locked transaction), else in one of its own.
   */
  async create(
    input: NewDeployment,
    enqueue: (sql: TransactionSql, cloneIds: string[]) => Promise<void>,
    tx?: JobTransaction,
  ): Promise<DeploymentWithClones> {
    const { plan, replacing } = input
    if (replacing && replacing.length !== plan.names.length) throw new Error('a rebuild replaces one clone per planned name')
    // The id is chosen here: the parent's secret values are sealed to it.
    const deploymentId = randomUUID()
    const attributeValues = this.attributes.sealDeploymentValues(deploymentId, plan.attributeValues)
    return inTransaction(this.database.pool, tx, async (tx) => {
      if (!(await tryXactLockShared(tx, PARENT_LOCK_SCOPE, plan.parent.moref))) {
        throw new ParentBusy({ parent: plan.parent.name }, plan.parent.name, 'a snapshot of it is being removed or reverted to')
      }
      const empty = plan.names.length === 0
      // Each clone's share of its team's provisioned-GB quota (domain/quota.ts: delta + swap).
      const provisionedGB = plan.provisionedGBPerClone ?? provisionedGBPerClone()
      // The team's quota, under its lock until COMMIT (waiting for the team's other records): a
      // rebuild replaces clones one for one and adds nothing; any other deployment (a pool's growth, a
      // reconcile's redeploy) counts. 422 QUOTA_EXCEEDED before anything is inserted.
      // A reconcile's rebuild replaces failed clones, which count no more: its replacements add usage.
      const replacingFailed = !!replacing && input.kind === 'reconcile'
      if ((!replacing || replacingFailed) && !empty) {
        const { quota, usage } = await lockedQuotaAndUsage(tx, input.team)
        checkQuota(input.team, quota, usage, { clones: plan.names.length, provisionedGB: plan.names.length * provisionedGB })
      }
      const [deployment] = await tx.db
        .insert(deployments)
        .values({
          id: deploymentId,
          kind: input.kind ?? 'deploy',
          requester: input.requester,
          team: input.team,
          ticket: input.ticket ?? null,
          requestId: input.requestId ?? null,
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
          customizationTimeoutMinutes: plan.customizationTimeoutMinutes ?? null,
          copiedAttributes: plan.copiedAttributes,
          attributeValues,
          warnings: plan.warnings,
          poolId: input.pool?.id ?? null,
          poolName: input.pool?.name ?? null,
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
            team: deployment.team,
            name,
            number: replacing ? replacing[i]!.number : plan.startNumber + i,
            instanceUuid: randomUUID(),
            hostMoref: plan.placement[i] ?? plan.parent.host ?? null,
            datastoreMoref: plan.parent.datastore ?? null,
            provisionedGB,
            ...(replacing ? { status: 'waiting' as const, replacesCloneId: replacing[i]!.id } : {}),
          })),
        )
        .returning()
      if (replacing) {
        const claimed = await tx.query(
          `UPDATE clones SET destroy_deployment_id = $1, updated_at = now()
            WHERE id = ANY($2::uuid[])
              AND (status NOT IN ('failed', 'destroyed', 'waiting') OR ($3::boolean AND status = 'failed' AND destroyed_at IS NULL))`,
          [deployment.id, replacing.map((c) => c.id), replacingFailed],
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

  /** By id; with `teams`, only a deployment of those teams (another team's is as missing). */
  async getDeployment(id: string, tx?: JobTransaction, teams?: TeamFilter): Promise<DeploymentRow | undefined> {
    const [row] = await onDb(this.db, tx)
      .select()
      .from(deployments)
      .where(and(eq(deployments.id, id), teamCondition(deployments.team, teams)))
    return row
  }

  /** Of these names, those a live clone of the service already holds (possibly not yet in vCenter). */
  /** The names of the service's clones that start with `prefix` and are not failed or destroyed. */
  async namesWithPrefix(prefix: string): Promise<string[]> {
    const pattern = prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%'
    const rows = await this.db
      .select({ name: clones.name })
      .from(clones)
      .where(and(sql`${clones.name} LIKE ${pattern}`, notInArray(clones.status, ['failed', 'destroyed'])))
    return rows.map((r) => r.name)
  }

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

  /** Clones to be made on a datastore that are not powered on yet (their space is still to come). */
  async clonesNotYetPoweredOn(datastoreMoref: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(clones)
      .where(and(eq(clones.datastoreMoref, datastoreMoref), inArray(clones.status, [...NOT_YET_POWERED_ON_STATUSES])))
    return row?.n ?? 0
  }

  // ---- listing: filtered, keyset-paginated pages, and batch reads by many keys ---------------

  /**
   * Newest first. The cursor holds created_at as PostgreSQL prints it: a JavaScript Date would lose the
   * microseconds, and rows created in the same millisecond would be skipped or repeated.
   */
  async page(filter: DeploymentFilter, limit: number, after?: string[]): Promise<ListedDeployment[]> {
    const conditions = filterConditions(filter)
    if (after) conditions.push(sql`(${deployments.createdAt}, ${deployments.id}) < (${after[0]}::timestamptz, ${after[1]}::uuid)`)
    const rows = await this.db
      .select({ deployment: deployments, cursorAt: sql<string>`${deployments.createdAt}::text` })
      .from(deployments)
      .where(and(...conditions))
      .orderBy(desc(deployments.createdAt), desc(deployments.id))
      .limit(limit)
    return rows.map((r) => ({ ...r.deployment, cursorAt: r.cursorAt }))
  }

  async count(filter: DeploymentFilter): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(deployments)
      .where(and(...filterConditions(filter)))
    return row?.n ?? 0
  }

  async byIds(ids: readonly string[], teams?: TeamFilter): Promise<Map<string, DeploymentRow>> {
    const rows = await this.db
      .select()
      .from(deployments)
      .where(and(inArray(deployments.id, [...ids]), teamCondition(deployments.team, teams)))
    return new Map(rows.map((r) => [r.id, r]))
  }

  /** Counts per clone status of each deployment, over the clones CloneRepository.byDeploymentIds gives it. */
  async statusCountsByIds(ids: readonly string[]): Promise<Map<string, { status: CloneStatus; n: number }[]>> {
    const made = this.db
      .select({ deploymentId: sql<string>`${clones.deploymentId}`.as('deployment_id'), status: clones.status, n: sql<number>`count(*)::int`.as('n') })
      .from(clones)
      .where(inArray(clones.deploymentId, [...ids]))
      .groupBy(clones.deploymentId, clones.status)
    const destroyer = alias(deployments, 'destroyer')
    const destroyed = this.db
      .select({ deploymentId: sql<string>`${clones.destroyDeploymentId}`.as('deployment_id'), status: clones.status, n: sql<number>`count(*)::int`.as('n') })
      .from(clones)
      .innerJoin(destroyer, eq(destroyer.id, clones.destroyDeploymentId))
      .where(and(inArray(clones.destroyDeploymentId, [...ids]), inArray(destroyer.kind, [...DESTROY_KINDS])))
      .groupBy(clones.destroyDeploymentId, clones.status)
    const rows = await unionAll(made, destroyed)
    return groupBy(rows, (r) => r.deploymentId)
  }

  /** Each pool's latest `limit` deployments, newest first, by pool id: PoolRepository.deployments for many pools. */
  async latestByPoolIds(ids: readonly string[], limit: number, teams?: TeamFilter): Promise<Map<string, DeploymentRow[]>> {
    const ranked = this.db
      .select({
        id: deployments.id,
        rank: sql<number>`row_number() OVER (PARTITION BY ${deployments.poolId} ORDER BY ${deployments.createdAt} DESC)`.as('rank'),
      })
      .from(deployments)
      .where(inArray(deployments.poolId, [...ids]))
      .as('ranked')
    const rows = await this.db
      .select()
      .from(deployments)
      .where(
        and(
          inArray(deployments.poolId, [...ids]),
          inArray(deployments.id, this.db.select({ id: ranked.id }).from(ranked).where(lte(ranked.rank, limit))),
          teamCondition(deployments.team, teams),
        ),
      )
      .orderBy(desc(deployments.createdAt))
    return groupBy(rows, (r) => r.poolId!)
  }

  // ---- progress snapshots, for subscriptions --------------------------------------------------

  /** The deployment's status and its clones', each with updated_at in exact microseconds (to order against notifications). */
  async progressSnapshot(deploymentId: string, teams?: TeamFilter): Promise<ProgressSnapshot | undefined> {
    const [deployment] = await this.db
      .select({ kind: deployments.kind, status: deployments.status, error: deployments.error, at: micros(deployments.updatedAt) })
      .from(deployments)
      .where(and(eq(deployments.id, deploymentId), teamCondition(deployments.team, teams)))
    if (!deployment) return undefined
    // The clones it makes, or for a strip back or scale down those it destroys (as CloneRepository.byDeploymentIds).
    const ownClones = DESTROY_KINDS.includes(deployment.kind) ? eq(clones.destroyDeploymentId, deploymentId) : eq(clones.deploymentId, deploymentId)
    const rows = await this.db
      .select({
        id: clones.id,
        name: clones.name,
        status: clones.status,
        moref: clones.moref,
        error: clones.error,
        at: micros(clones.updatedAt),
      })
      .from(clones)
      .where(ownClones)
      .orderBy(asc(clones.number))
    return {
      deploymentId,
      status: deployment.status,
      error: deployment.error,
      atMicros: Number(deployment.at),
      clones: rows.map(({ at, ...c }) => ({ ...c, atMicros: Number(at) })),
    }
  }
}

function filterConditions(filter: DeploymentFilter): SQL[] {
  const conditions: SQL[] = []
  if (filter.status) conditions.push(eq(deployments.status, filter.status))
  if (filter.parent) conditions.push(eq(deployments.parentName, filter.parent))
  if (filter.requester) conditions.push(eq(deployments.requester, filter.requester))
  if (filter.ticket) conditions.push(eq(deployments.ticket, filter.ticket))
  if (filter.requestId) conditions.push(eq(deployments.requestId, filter.requestId))
  if (filter.pool) conditions.push(eq(deployments.poolName, filter.pool))
  if (filter.kind) conditions.push(eq(deployments.kind, filter.kind))
  if (filter.team) conditions.push(eq(deployments.team, filter.team))
  const team = teamCondition(deployments.team, filter.teams)
  if (team) conditions.push(team)
  return conditions
}

/** updated_at in microseconds since the epoch (exact, unlike a Date), to order it against notifications. */
const micros = (column: typeof clones.updatedAt | typeof deployments.updatedAt) =>
  sql<string>`(extract(epoch from ${column}) * 1000000)::bigint::text`

function groupBy<T, K>(rows: T[], key: (row: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>()
  for (const row of rows) {
    const list = groups.get(key(row))
    if (list) list.push(row)
    else groups.set(key(row), [row])
  }
  return groups
}
