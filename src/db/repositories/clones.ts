/**
 * Every read of clones, for REST, GraphQL and the services alike: one family of reads of clone rows
 * (by id, by deployment, parent or pool, filtered pages), and on top of it the records REST shows
 * (each clone with its deployment, its custom attributes and when it vanished), in a fixed number of
 * queries whatever the number of clones. Attributes come from the attribute store, which opens or
 * redacts secrets.
 */
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, isNull, like, notInArray, or, sql, type SQL } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { Attribute, AttributeStore } from './attributes.js'
import type { AttributeValue } from '../../domain/attributes.js'
import { namePrefixOf, type CloneListKey } from '../../domain/clone-order.js'
import { DESTROY_KINDS, NOT_LIVE_STATUSES, type CloneStatus } from '../../domain/progress.js'
import type { CloneUse } from '../../domain/snapshots.js'
import type { Db } from '../database.js'
import { onDb, type JobTransaction } from '../job-transaction.js'
import { clones, deployments, type CloneRow, type DeploymentRow } from '../schema.js'
import type { TeamFilter } from '../../domain/teams.js'
import { teamCondition } from './team-filter.js'

export interface CloneRecord {
  clone: CloneRow
  deployment: DeploymentRow
  /** Secrets are "***" unless read with `revealSecrets`. */
  attributes: Attribute[]
  /** When the sync last found the VM gone from vCenter; null while it exists (as far as is known). */
  vanishedAt: Date | null
  /** Read for one clone (findByName): the clone it replaced and the clone that replaced it (refresh, recompose). */
  lineage?: Lineage
}

export interface LinkedClone {
  clone: CloneRow
  deployment: DeploymentRow
}

export interface Lineage {
  replaces?: LinkedClone
  replacedBy?: LinkedClone
}

export interface ReadOptions {
  /** Open secrets (the caller has secrets:read and records the reveal). Default: redact them. */
  revealSecrets?: boolean
  /** Only clones of these teams (domain/teams.ts); absent: every team's (internal reads). */
  teams?: TeamFilter
}

/** A live clone of a parent with its VM's moref (for reading power states). */
export interface LiveCloneOfParent extends CloneUse {
  moref: string | null
  team: string
}

/** GraphQL's filter of a page of clones (every status unless `status`). */
export interface CloneFilter {
  prefix?: string
  parent?: string
  status?: CloneStatus
  /** Clones with every one of these values (not secrets: the caller refuses them, see AttributeStore.isSecret). */
  attributes?: AttributeValue[]
  /** The teams whose clones the caller sees; absent: every team's (internal reads). */
  teams?: TeamFilter
}

/** A page's cursor key: the list's order (domain/clone-order.ts). */
export { cloneCursorKey } from '../../domain/clone-order.js'

type JoinedRow = { clones: CloneRow; deployments: DeploymentRow }

export class CloneRepository {
  constructor(
    private readonly db: Db,
    private readonly attributes: AttributeStore,
  ) {}

  // ---- clone rows -----------------------------------------------------------------------------

  /** These clones, in number order. */
  async byIds(ids: readonly string[]): Promise<CloneRow[]> {
    return this.db.select().from(clones).where(inArray(clones.id, [...ids])).orderBy(asc(clones.number))
  }

  /**
   * A deployment's clones as GET /v1/deployments/{id} shows them, by number: those it made, or for a
   * deployment that destroys a pool's clones (scale-down, strip), those it destroys.
   */
  async ofDeployment(deployment: Pick<DeploymentRow, 'id' | 'kind'>): Promise<CloneRow[]> {
    const { id } = deployment
    return this.db
      .select()
      .from(clones)
      .where(DESTROY_KINDS.includes(deployment.kind) ? eq(clones.destroyDeploymentId, id) : eq(clones.deploymentId, id))
      .orderBy(asc(clones.number))
  }

  /** ofDeployment a page at a time, in the list's order (for a deployment, its numbers' order). */
  async ofDeploymentPage(deploymentId: string, limit: number, after?: CloneListKey): Promise<CloneRow[]> {
    return this.db
      .select()
      .from(clones)
      .where(and(ofDeploymentCondition(deploymentId), after ? afterKey(after) : undefined))
      .orderBy(...listOrder)
      .limit(limit)
  }

  /**
   * A deployment's clones counted in SQL (not read): by step, where a rebuild's clone waiting while the
   * clone it replaces is destroyed counts as destroying, and the hosts they are placed on.
   */
  async progressOfDeployment(deploymentId: string): Promise<DeploymentProgressCounts> {
    const replaced = alias(clones, 'replaced')
    const step = sql<CloneStatus>`CASE WHEN ${clones.status} = 'waiting' AND ${replaced.status} = 'destroying' THEN 'destroying' ELSE ${clones.status} END`
    const rows = await this.db
      .select({ step, n: sql<number>`count(*)::int`, hosts: sql<number>`count(DISTINCT ${clones.hostMoref})::int` })
      .from(clones)
      .leftJoin(replaced, eq(replaced.id, clones.replacesCloneId))
      .where(ofDeploymentCondition(deploymentId))
      .groupBy(sql`ROLLUP (1)`)
    // ROLLUP's grand total (step null) holds the distinct hosts over every step.
    const total = rows.find((r) => r.step === null)
    return { byStep: rows.filter((r) => r.step !== null).map((r) => ({ status: r.step, n: r.n })), hosts: total?.hosts ?? 0 }
  }

  /** ofDeployment for many deployments in one query, by deployment id. */
  async byDeploymentIds(ids: readonly string[], teams?: TeamFilter): Promise<Map<string, CloneRow[]>> {
    const wanted = new Set(ids)
    // A rebuild (refresh, recompose) also destroys clones, but shows the clones it makes in their place.
    const destroyer = alias(deployments, 'destroyer')
    const destroyedByDestroyKind = and(inArray(clones.destroyDeploymentId, [...ids]), inArray(destroyer.kind, [...DESTROY_KINDS]))
    const rows = await this.db
      .select({ clone: clones, destroyedByDestroyKind: sql<boolean>`coalesce(${destroyedByDestroyKind}, false)` })
      .from(clones)
      .leftJoin(destroyer, eq(destroyer.id, clones.destroyDeploymentId))
      .where(and(or(inArray(clones.deploymentId, [...ids]), destroyedByDestroyKind), teamCondition(clones.team, teams)))
      .orderBy(asc(clones.number), asc(clones.createdAt))
    const groups = new Map<string, CloneRow[]>()
    const add = (id: string, row: CloneRow) => groups.set(id, [...(groups.get(id) ?? []), row])
    for (const { clone, destroyedByDestroyKind } of rows) {
      if (wanted.has(clone.deploymentId)) add(clone.deploymentId, clone)
      if (destroyedByDestroyKind && clone.destroyDeploymentId) add(clone.destroyDeploymentId, clone)
    }
    return groups
  }

  /** Clones the service made from these parents (by the parent's moref, which survives a rename), by moref. */
  async byParentMorefs(morefs: readonly string[], teams?: TeamFilter): Promise<Map<string, CloneRow[]>> {
    const rows = await this.db
      .select({ clone: clones, parentMoref: deployments.parentMoref })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(inArray(deployments.parentMoref, [...morefs]), teamCondition(clones.team, teams)))
      .orderBy(...listOrder)
    return groupBy(rows, (r) => r.parentMoref, (r) => r.clone)
  }

  /** The pool's live clones (neither failed nor destroyed, nor a replacement still waiting), by number. */
  async liveOfPool(poolId: string, tx?: JobTransaction): Promise<CloneRow[]> {
    const rows = await onDb(this.db, tx)
      .select({ clone: clones })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(eq(deployments.poolId, poolId), notInArray(clones.status, [...NOT_LIVE_STATUSES])))
      .orderBy(asc(clones.number))
    return rows.map((r) => r.clone)
  }

  /** The numbers of these pools' live clones, by pool: one query for any number of pools. */
  async liveNumbersOfPools(poolIds: string[], tx?: JobTransaction): Promise<Map<string, number[]>> {
    const byPool = new Map<string, number[]>()
    if (poolIds.length === 0) return byPool
    const rows = await onDb(this.db, tx)
      .select({ poolId: deployments.poolId, number: clones.number })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(inArray(deployments.poolId, poolIds), notInArray(clones.status, [...NOT_LIVE_STATUSES])))
    for (const { poolId, number } of rows) {
      const numbers = byPool.get(poolId!)
      if (numbers) numbers.push(number)
      else byPool.set(poolId!, [number])
    }
    return byPool
  }

  /**
   * The parent's live clones (neither failed nor destroyed), with their pool and snapshot (by the
   * snapshot moref their deployment recorded as provenance).
   */
  async liveOfParent(parentMoref: string): Promise<LiveCloneOfParent[]> {
    const rows = await this.db
      .select({
        name: clones.name,
        moref: clones.moref,
        status: clones.status,
        pool: deployments.poolName,
        snapshotMoref: deployments.snapshotMoref,
        team: clones.team,
      })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(eq(deployments.parentMoref, parentMoref), notInArray(clones.status, ['failed', 'destroyed'])))
      .orderBy(clones.name)
    return rows
  }

  /** Each pool's live clones (neither failed nor destroyed), by number, by pool id. */
  async liveByPoolIds(ids: readonly string[], teams?: TeamFilter): Promise<Map<string, CloneRow[]>> {
    const rows = await this.db
      .select({ clone: clones, poolId: deployments.poolId })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(inArray(deployments.poolId, [...ids]), notInArray(clones.status, ['failed', 'destroyed']), teamCondition(clones.team, teams)))
      .orderBy(asc(clones.number))
    return groupBy(rows, (r) => r.poolId!, (r) => r.clone)
  }

  /** A page of clones in the list's order (domain/clone-order.ts), after the cursor's key. */
  async page(filter: CloneFilter, limit: number, after?: CloneListKey): Promise<CloneRow[]> {
    const conditions = this.filterConditions(filter)
    if (after) conditions.push(afterKey(after))
    return this.db
      .select()
      .from(clones)
      .where(and(...conditions))
      .orderBy(...listOrder)
      .limit(limit)
  }

  async count(filter: CloneFilter): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(clones)
      .where(and(...this.filterConditions(filter)))
    return row?.n ?? 0
  }

  /** Clones made and ready (with a moref): what the attribute sync compares with vCenter. */
  async readyWithVm(): Promise<{ id: string; moref: string }[]> {
    const rows = await this.db
      .select({ id: clones.id, moref: clones.moref })
      .from(clones)
      .where(and(eq(clones.status, 'ready'), isNotNull(clones.moref)))
    return rows.map((r) => ({ id: r.id, moref: r.moref! }))
  }

  /** Clones with a VM that are neither failed nor destroyed, each with its parent: what the space report measures. */
  async liveVmsWithParent(teams?: TeamFilter): Promise<{ parentMoref: string; parentName: string; moref: string; linked: boolean | null }[]> {
    const rows = await this.db
      .select({ parentMoref: deployments.parentMoref, parentName: deployments.parentName, moref: clones.moref, linked: clones.linked })
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(and(isNotNull(clones.moref), notInArray(clones.status, ['failed', 'destroyed']), teamCondition(clones.team, teams)))
    return rows.map((r) => ({ ...r, moref: r.moref! }))
  }

  // ---- records: a clone with its deployment, attributes and presence (REST) -------------------

  /** The clone holding this name: the live one, else the most recent destroyed or failed one. */
  async findByName(name: string, options: ReadOptions = {}): Promise<CloneRecord | undefined> {
    const rows = await this.joined().where(and(eq(clones.name, name), teamCondition(clones.team, options.teams)))
    rows.sort((a, b) => rank(a.clones) - rank(b.clones) || b.clones.createdAt.getTime() - a.clones.createdAt.getTime())
    const [row] = rows
    if (!row) return undefined
    const [record] = await this.withAttributes([row], options)
    return record && { ...record, lineage: await this.lineage(record.clone) }
  }

  /** The clone this one replaced, and the latest clone that replaced it. */
  async lineage(clone: CloneRow): Promise<Lineage> {
    const [replaces, replacedBy] = await Promise.all([
      clone.replacesCloneId ? this.joined().where(eq(clones.id, clone.replacesCloneId)) : [],
      this.joined().where(eq(clones.replacesCloneId, clone.id)).orderBy(desc(clones.createdAt)).limit(1),
    ])
    const linked = (rows: JoinedRow[]) => (rows[0] ? { clone: rows[0].clones, deployment: rows[0].deployments } : undefined)
    return { replaces: linked(replaces), replacedBy: linked(replacedBy) }
  }

  /**
   * Clones in the list's order (domain/clone-order.ts), `after` the key of the last one of the page
   * before; with a prefix or attribute values (all must match), live clones only. Secret attributes
   * cannot be matched: the caller refuses them (AttributeStore.isSecret).
   */
  async list(filter: ListFilter, options: ReadOptions = {}): Promise<CloneRecord[]> {
    const rows = await this.listQuery(filter, options)
    return this.withAttributes(rows, options)
  }

  /** The query of list() (the test checks its plan uses clones_list_order_idx). */
  listQuery(filter: ListFilter, options: ReadOptions = {}) {
    const attributeMatch = filter.attributes?.length ? this.attributes.hasValues(filter.attributes) : undefined
    const where = and(
      filter.prefix || attributeMatch
        ? and(prefixCondition(filter.prefix), attributeMatch, notInArray(clones.status, [...NOT_LIVE_STATUSES]))
        : undefined,
      filter.deployment ? ofDeploymentCondition(filter.deployment) : undefined,
      filter.after ? afterKey(filter.after) : undefined,
      teamCondition(clones.team, options.teams),
    )
    return this.joined()
      .where(where)
      .orderBy(...listOrder)
      .limit(filter.limit)
  }

  /** Clones joined with the deployment that made them. */
  private joined() {
    return this.db.select().from(clones).innerJoin(deployments, eq(deployments.id, clones.deploymentId)).$dynamic()
  }

  private async withAttributes(rows: JoinedRow[], options: ReadOptions): Promise<CloneRecord[]> {
    const ids = rows.map((r) => r.clones.id)
    const [attributes, vanished] = await Promise.all([
      this.attributes.current(ids, { reveal: options.revealSecrets ?? false }),
      this.attributes.vanishedSince(ids),
    ])
    return rows.map((r) => ({
      clone: r.clones,
      deployment: r.deployments,
      attributes: attributes.get(r.clones.id) ?? [],
      vanishedAt: vanished.get(r.clones.id) ?? null,
    }))
  }

  private filterConditions(filter: CloneFilter): SQL[] {
    const conditions: SQL[] = []
    const prefix = prefixCondition(filter.prefix)
    if (prefix) conditions.push(prefix)
    if (filter.status) conditions.push(eq(clones.status, filter.status))
    if (filter.parent) {
      conditions.push(
        sql`${clones.deploymentId} IN (SELECT ${deployments.id} FROM ${deployments} WHERE ${deployments.parentName} = ${filter.parent})`,
      )
    }
    const attributeMatch = filter.attributes?.length ? this.attributes.hasValues(filter.attributes) : undefined
    if (attributeMatch) conditions.push(attributeMatch)
    const team = teamCondition(clones.team, filter.teams)
    if (team) conditions.push(team)
    return conditions
  }
}

export interface ListFilter {
  prefix?: string
  /** The clones of this deployment (as ofDeployment), whatever their status. */
  deployment?: string
  attributes?: AttributeValue[]
  limit: number
  after?: CloneListKey
}

export interface DeploymentProgressCounts {
  byStep: { status: CloneStatus; n: number }[]
  /** Hosts its clones are placed on (the estimate's concurrency). */
  hosts: number
}

/** The clones a deployment made, or for one that destroys a pool's clones (scale-down, strip), those it destroys. */
function ofDeploymentCondition(id: string): SQL {
  const destroyKind = sql`EXISTS (SELECT 1 FROM ${deployments} WHERE ${deployments.id} = ${id} AND ${inArray(deployments.kind, [...DESTROY_KINDS])})`
  return or(eq(clones.deploymentId, id), and(eq(clones.destroyDeploymentId, id), destroyKind))!
}

/** Every clone list's order: number within prefix, then name and id; clones_list_order_idx serves it. */
const listOrder = [asc(clones.namePrefix), sql`${clones.nameNumber} ASC NULLS LAST`, asc(clones.name), asc(clones.id)]

/** Rows after `k` in listOrder (a row comparison cannot say NULLS LAST, so spelled out). */
function afterKey(k: CloneListKey): SQL {
  const laterName = sql`(${clones.name}, ${clones.id}) > (${k.name}, ${k.id}::uuid)`
  const laterInPrefix =
    k.number === null
      ? and(isNull(clones.nameNumber), laterName)
      : or(gt(clones.nameNumber, k.number), isNull(clones.nameNumber), and(eq(clones.nameNumber, k.number), laterName))
  // The leading `name_prefix >= ` is redundant but starts the index scan at the cursor.
  return and(gte(clones.namePrefix, k.prefix), or(gt(clones.namePrefix, k.prefix), and(eq(clones.namePrefix, k.prefix), laterInPrefix)))!
}

/**
 * Names starting with `prefix`; plus the equivalent range on name_prefix (collation "C": a LIKE on it
 * is an index range) for the index: such a name's prefix starts with `prefix` less its trailing digits.
 */
function prefixCondition(prefix: string | undefined): SQL | undefined {
  if (!prefix) return undefined
  const stem = namePrefixOf(prefix)
  return and(like(clones.name, `${escapeLike(prefix)}%`), stem ? like(clones.namePrefix, `${escapeLike(stem)}%`) : undefined)
}

/** The live clone first, then a replacement still waiting for the name, then a destroyed or failed one. */
const rank = (c: CloneRow) => (c.status === 'failed' || c.status === 'destroyed' ? 2 : c.status === 'waiting' ? 1 : 0)

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

function groupBy<T, K, V>(rows: T[], key: (row: T) => K, value: (row: T) => V): Map<K, V[]> {
  const groups = new Map<K, V[]>()
  for (const row of rows) {
    const list = groups.get(key(row))
    if (list) list.push(value(row))
    else groups.set(key(row), [value(row)])
  }
  return groups
}
