/**
 * Read-only SQL for GraphQL: filtered, keyset-paginated lists, and batch reads by many keys at once
 * (what the loaders call, one query per kind of record however many records a query touches).
 */
import { and, asc, desc, eq, inArray, like, lte, notInArray, or, sql, type SQL } from 'drizzle-orm'
import { alias, unionAll } from 'drizzle-orm/pg-core'
import type { Db } from '../database.js'
import { cloneSteps, clones, deployments, type CloneRow, type CloneStepRow, type DeploymentRow } from '../schema.js'
import { DESTROY_KINDS, type CloneStatus, type DeploymentStatus } from '../../domain/progress.js'

export interface CloneFilter {
  prefix?: string
  parent?: string
  status?: CloneStatus
  /** A condition on clones by their attributes, made by the attribute store (AttributeStore.hasValues). */
  attributes?: SQL
}

export interface DeploymentFilter {
  status?: DeploymentStatus
  parent?: string
  requester?: string
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

function cloneConditions(filter: CloneFilter): SQL[] {
  const conditions: SQL[] = []
  if (filter.prefix) conditions.push(like(clones.name, `${escapeLike(filter.prefix)}%`))
  if (filter.status) conditions.push(eq(clones.status, filter.status))
  if (filter.parent) {
    conditions.push(
      sql`${clones.deploymentId} IN (SELECT ${deployments.id} FROM ${deployments} WHERE ${deployments.parentName} = ${filter.parent})`,
    )
  }
  if (filter.attributes) conditions.push(filter.attributes)
  return conditions
}

/** Clones by name (then id, for the failed clones that share a live one's name), after the cursor's key. */
export async function listClones(db: Db, filter: CloneFilter, limit: number, after?: string[]): Promise<CloneRow[]> {
  const conditions = cloneConditions(filter)
  if (after) conditions.push(sql`(${clones.name}, ${clones.id}) > (${after[0]}, ${after[1]}::uuid)`)
  return db
    .select()
    .from(clones)
    .where(and(...conditions))
    .orderBy(asc(clones.name), asc(clones.id))
    .limit(limit)
}

export async function countClones(db: Db, filter: CloneFilter): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(clones)
    .where(and(...cloneConditions(filter)))
  return row?.n ?? 0
}

export const cloneCursorKey = (c: CloneRow) => [c.name, c.id]

function deploymentConditions(filter: DeploymentFilter): SQL[] {
  const conditions: SQL[] = []
  if (filter.status) conditions.push(eq(deployments.status, filter.status))
  if (filter.parent) conditions.push(eq(deployments.parentName, filter.parent))
  if (filter.requester) conditions.push(eq(deployments.requester, filter.requester))
  return conditions
}

export type ListedDeployment = DeploymentRow & { cursorAt: string }

/**
 * Newest first. The cursor holds created_at as PostgreSQL prints it: a JavaScript Date would lose the
 * microseconds, and rows created in the same millisecond would be skipped or repeated.
 */
export async function listDeployments(db: Db, filter: DeploymentFilter, limit: number, after?: string[]): Promise<ListedDeployment[]> {
  const conditions = deploymentConditions(filter)
  if (after) conditions.push(sql`(${deployments.createdAt}, ${deployments.id}) < (${after[0]}::timestamptz, ${after[1]}::uuid)`)
  const rows = await db
    .select({ deployment: deployments, cursorAt: sql<string>`${deployments.createdAt}::text` })
    .from(deployments)
    .where(and(...conditions))
    .orderBy(desc(deployments.createdAt), desc(deployments.id))
    .limit(limit)
  return rows.map((r) => ({ ...r.deployment, cursorAt: r.cursorAt }))
}

export async function countDeployments(db: Db, filter: DeploymentFilter): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(deployments)
    .where(and(...deploymentConditions(filter)))
  return row?.n ?? 0
}

export const deploymentCursorKey = (d: ListedDeployment) => [d.cursorAt, d.id]

// ---- batch reads: one query for many keys; results grouped by key ------------------------------

function groupBy<T, K>(rows: T[], key: (row: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>()
  for (const row of rows) {
    const list = groups.get(key(row))
    if (list) list.push(row)
    else groups.set(key(row), [row])
  }
  return groups
}

export async function deploymentsByIds(db: Db, ids: readonly string[]): Promise<Map<string, DeploymentRow>> {
  const rows = await db.select().from(deployments).where(inArray(deployments.id, [...ids]))
  return new Map(rows.map((r) => [r.id, r]))
}

/**
 * Each deployment's clones as GET /v1/deployments/{id} shows them: those it made, or for a deployment
 * that destroys a pool's clones (scale-down, strip), those it destroys.
 */
export async function clonesByDeploymentIds(db: Db, ids: readonly string[]): Promise<Map<string, CloneRow[]>> {
  const wanted = new Set(ids)
  // A rebuild (refresh, recompose) also destroys clones, but shows the clones it makes in their place.
  const destroyer = alias(deployments, 'destroyer')
  const destroyedByDestroyKind = and(inArray(clones.destroyDeploymentId, [...ids]), inArray(destroyer.kind, [...DESTROY_KINDS]))
  const rows = await db
    .select({ clone: clones, destroyedByDestroyKind: sql<boolean>`coalesce(${destroyedByDestroyKind}, false)` })
    .from(clones)
    .leftJoin(destroyer, eq(destroyer.id, clones.destroyDeploymentId))
    .where(or(inArray(clones.deploymentId, [...ids]), destroyedByDestroyKind))
    .orderBy(asc(clones.number), asc(clones.createdAt))
  const groups = new Map<string, CloneRow[]>()
  const add = (id: string, row: CloneRow) => groups.set(id, [...(groups.get(id) ?? []), row])
  for (const { clone, destroyedByDestroyKind } of rows) {
    if (wanted.has(clone.deploymentId)) add(clone.deploymentId, clone)
    if (destroyedByDestroyKind && clone.destroyDeploymentId) add(clone.destroyDeploymentId, clone)
  }
  return groups
}

/** Counts per clone status of each deployment, over the clones clonesByDeploymentIds gives it. */
export async function statusCountsByDeploymentIds(
  db: Db,
  ids: readonly string[],
): Promise<Map<string, { status: CloneStatus; n: number }[]>> {
  const made = db
    .select({ deploymentId: sql<string>`${clones.deploymentId}`.as('deployment_id'), status: clones.status, n: sql<number>`count(*)::int`.as('n') })
    .from(clones)
    .where(inArray(clones.deploymentId, [...ids]))
    .groupBy(clones.deploymentId, clones.status)
  const destroyer = alias(deployments, 'destroyer')
  const destroyed = db
    .select({ deploymentId: sql<string>`${clones.destroyDeploymentId}`.as('deployment_id'), status: clones.status, n: sql<number>`count(*)::int`.as('n') })
    .from(clones)
    .innerJoin(destroyer, eq(destroyer.id, clones.destroyDeploymentId))
    .where(and(inArray(clones.destroyDeploymentId, [...ids]), inArray(destroyer.kind, [...DESTROY_KINDS])))
    .groupBy(clones.destroyDeploymentId, clones.status)
  const rows = await unionAll(made, destroyed)
  return groupBy(rows, (r) => r.deploymentId)
}

export async function stepsByCloneIds(db: Db, ids: readonly string[]): Promise<Map<string, CloneStepRow[]>> {
  const rows = await db
    .select()
    .from(cloneSteps)
    .where(inArray(cloneSteps.cloneId, [...ids]))
    .orderBy(asc(cloneSteps.id))
  return groupBy(rows, (r) => r.cloneId)
}

/** Clones the service made from these parents (by the parent's moref, which survives a rename). */
export async function clonesByParentMorefs(db: Db, morefs: readonly string[]): Promise<Map<string, CloneRow[]>> {
  const rows = await db
    .select({ clone: clones, parentMoref: deployments.parentMoref })
    .from(clones)
    .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
    .where(inArray(deployments.parentMoref, [...morefs]))
    .orderBy(asc(clones.name), asc(clones.id))
  const grouped = groupBy(rows, (r) => r.parentMoref)
  return new Map([...grouped].map(([moref, list]) => [moref, list.map((r) => r.clone)]))
}

/** Each pool's live clones (neither failed nor destroyed), by number: PoolRepository.liveClones for many pools. */
export async function liveClonesByPoolNames(db: Db, names: readonly string[]): Promise<Map<string, CloneRow[]>> {
  const rows = await db
    .select({ clone: clones, poolName: deployments.poolName })
    .from(clones)
    .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
    .where(and(inArray(deployments.poolName, [...names]), notInArray(clones.status, ['failed', 'destroyed'])))
    .orderBy(asc(clones.number))
  const grouped = groupBy(rows, (r) => r.poolName!)
  return new Map([...grouped].map(([pool, list]) => [pool, list.map((r) => r.clone)]))
}

/** Each pool's latest `limit` deployments, newest first: PoolRepository.deployments for many pools. */
export async function latestDeploymentsByPoolNames(db: Db, names: readonly string[], limit: number): Promise<Map<string, DeploymentRow[]>> {
  const ranked = db
    .select({
      id: deployments.id,
      rank: sql<number>`row_number() OVER (PARTITION BY ${deployments.poolName} ORDER BY ${deployments.createdAt} DESC)`.as('rank'),
    })
    .from(deployments)
    .where(inArray(deployments.poolName, [...names]))
    .as('ranked')
  const rows = await db
    .select()
    .from(deployments)
    .where(and(inArray(deployments.poolName, [...names]), inArray(deployments.id, db.select({ id: ranked.id }).from(ranked).where(lte(ranked.rank, limit)))))
    .orderBy(desc(deployments.createdAt))
  return groupBy(rows, (r) => r.poolName!)
}

// ---- progress snapshots, for subscriptions ------------------------------------------------------

/** updated_at in microseconds since the epoch (exact, unlike a Date), to order it against notifications. */
const micros = (column: typeof clones.updatedAt | typeof deployments.updatedAt) =>
  sql<string>`(extract(epoch from ${column}) * 1000000)::bigint::text`

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

export async function readProgressSnapshot(db: Db, deploymentId: string): Promise<ProgressSnapshot | undefined> {
  const [deployment] = await db
    .select({ kind: deployments.kind, status: deployments.status, error: deployments.error, at: micros(deployments.updatedAt) })
    .from(deployments)
    .where(eq(deployments.id, deploymentId))
  if (!deployment) return undefined
  // The clones it makes, or for a strip back or scale down those it destroys (as clonesByDeploymentIds).
  const ownClones = DESTROY_KINDS.includes(deployment.kind) ? eq(clones.destroyDeploymentId, deploymentId) : eq(clones.deploymentId, deploymentId)
  const rows = await db
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
