/**
 * Pools: a named desired state (parent, prefix, numbers, size, expiry). Every change is a deployment:
 * growing deploys the next free numbers (modules/deployments/deployment-service.ts), shrinking and stripping
 * back destroy clones (destroy-clone-job.ts). Operations on one pool are serialized by an advisory
 * lock and by refusing a change while one of the pool's deployments is unfinished (409 POOL_BUSY).
 */
import { randomUUID } from 'node:crypto'
import type PgBoss from 'pg-boss'
import type { CloneRepository } from '../../db/repositories/clones.js'
import type { DeploymentRepository } from '../../db/repositories/deployments.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import type { CloneRow, DeploymentRow, PoolRow } from '../../db/schema.js'
import { maxUnavailableFor, selectClones } from '../../domain/rebuild.js'
import { MAX_POOL_SIZE, contiguousRuns, nextFreeNumbers, numbersToRemove, poolRange, rangesOverlap } from '../../domain/pool.js'
import { normalizeRequest, type DeploymentRequest } from '../../domain/plan.js'
import { NameConflict, PoolBusy, PoolNotFound, ValidationFailed } from '../../errors.js'
import { enqueueDestroy } from './destroy-clone-job.js'
import { scheduleExpiry } from './expire-pool-job.js'
import type { DeploymentService } from '../deployments/deployment-service.js'

/** The record this service hands out (for REST and GraphQL). */
export type { PoolRow } from '../../db/schema.js'

export interface CreatePoolRequest {
  name: string
  parent: string
  prefix?: string
  startNumber: number
  size: number
  attributes?: string[]
  customizationAttribute?: string
  hostLimit?: number
  expiresAt?: string
}

export interface ChangePoolRequest {
  size?: number
  expiresAt?: string
}

/** Refresh: rebuild clones from the pool's snapshot, under the same names and numbers. */
export interface RefreshPoolRequest {
  /** Clones rebuilt at once (each unavailable from its destruction until ready); default a quarter, at least 1. */
  maxUnavailable?: number
  /** Only these clones (names of live clones of the pool); default every live clone. */
  clones?: string[]
}

/** Recompose: move the pool to another snapshot (or parent), rebuilding every clone onto it. */
export interface RecomposePoolRequest {
  /** A snapshot's name on the parent; default the parent's current snapshot. */
  snapshot?: string
  /** Another parent VM's name; default the pool's parent. */
  parent?: string
  maxUnavailable?: number
}

export interface PoolChange {
  pool: PoolRow
  /** The deployments this change started (none when only the expiry changed). */
  deploymentIds: string[]
}

export class PoolService {
  constructor(
    private readonly pools: PoolRepository,
    private readonly deploymentRepository: DeploymentRepository,
    private readonly clones: CloneRepository,
    private readonly deployments: DeploymentService,
    private readonly boss: PgBoss,
  ) {}

  // ---- reads ----------------------------------------------------------------------------------

  /** Every pool, by name. */
  list(): Promise<PoolRow[]> {
    return this.pools.list()
  }

  /** The pool of this name, if any. */
  find(name: string): Promise<PoolRow | undefined> {
    return this.pools.get(name)
  }

  /** The pool with its live clones and last deployments (GET /v1/pools/{name}); throws POOL_NOT_FOUND. */
  async detail(name: string): Promise<{ pool: PoolRow; clones: CloneRow[]; deployments: DeploymentRow[] }> {
    const pool = await this.pools.get(name)
    if (!pool) throw new PoolNotFound({ pool: name }, name)
    const [clones, deployments] = await Promise.all([this.clones.liveOfPool(pool.id), this.pools.deployments(pool.id)])
    return { pool, clones, deployments }
  }

  /** Each pool's clones that are neither failed nor destroyed, by number, by pool id (GraphQL's Pool.clones, many pools in one read). */
  liveClonesOfPools(poolIds: readonly string[]): Promise<Map<string, CloneRow[]>> {
    return this.clones.liveByPoolIds(poolIds)
  }

  /** Each pool's latest `limit` deployments, newest first, by pool id (GraphQL's Pool.deployments, many pools in one read). */
  latestDeploymentsOfPools(poolIds: readonly string[], limit: number): Promise<Map<string, DeploymentRow[]>> {
    return this.deploymentRepository.latestByPoolIds(poolIds, limit)
  }

  // ---- changes --------------------------------------------------------------------------------

  async create(request: CreatePoolRequest, requester: string): Promise<PoolChange> {
    checkSize(request.size, 1)
    const expiresAt = parseExpiry(request.expiresAt)
    // The prefix as a deployment would choose it (and 400 for a parent name without one).
    const { prefix } = normalizeRequest({ parent: request.parent, prefix: request.prefix, startNumber: request.startNumber, count: request.size })
    return this.locked(request.name, async () => {
      const existing = await this.pools.get(request.name)
      if (existing && existing.status === 'active') {
        throw new NameConflict({ pool: request.name }, `a pool named "${request.name}" already exists`)
      }
      await this.checkRange(request.name, poolRange(prefix, request.startNumber, request.size))
      // A new record, even under a stripped pool's name (whose record, deployments and clones stay as
      // they are); inserted with its first deployment, so a refused deployment leaves no pool.
      const newPool = {
        id: randomUUID(),
        name: request.name,
        parentName: request.parent,
        prefix,
        startNumber: request.startNumber,
        size: request.size,
        copiedAttributes: request.attributes ?? null,
        customizationAttribute: request.customizationAttribute ?? null,
        hostLimit: request.hostLimit ?? null,
        expiresAt: expiresAt ?? null,
        // A stripped pool's recorded snapshot does not carry over: a new pool starts from the current one
        // and keeps to it (scale ups, refreshes) until a recompose moves it.
        snapshotName: null,
        snapshotMoref: null,
        requester,
      }
      let created
      try {
        created = await this.deployments.create(poolDeploymentRequest(newPool, request.startNumber, request.size), requester, { newPool })
      } catch (err) {
        if ((err as { constraint?: string }).constraint === 'pools_current_name_idx') {
          throw new NameConflict({ pool: request.name }, `a pool named "${request.name}" already exists`)
        }
        throw err
      }
      if (expiresAt) await scheduleExpiry(this.boss, newPool.name, expiresAt)
      const pool = (await this.pools.byId(newPool.id))!
      return { pool, deploymentIds: [created.deployment.id] }
    })
  }

  async change(name: string, request: ChangePoolRequest, requester: string): Promise<PoolChange> {
    if (request.size === undefined && request.expiresAt === undefined) {
      throw new ValidationFailed({ field: 'size' }, 'give "size", "expiresAt" or both')
    }
    if (request.size !== undefined) checkSize(request.size, 0)
    const expiresAt = parseExpiry(request.expiresAt)
    return this.locked(name, async () => {
      const pool = await this.activePool(name)
      const deploymentIds: string[] = []
      if (request.size !== undefined && request.size !== pool.size) {
        await this.checkIdle(pool)
        const live = await this.clones.liveOfPool(pool.id)
        const numbers = live.map((c) => c.number)
        if (request.size > live.length) {
          const adding = nextFreeNumbers(numbers, pool.startNumber, request.size - live.length)
          await this.checkRange(name, poolRange(pool.prefix, pool.startNumber, request.size, [...numbers, ...adding]))
          for (const run of contiguousRuns(adding)) {
            deploymentIds.push((await this.deploy(pool, run.startNumber, run.count, requester)).id)
          }
        } else if (request.size < live.length) {
          const removing = new Set(numbersToRemove(numbers, live.length - request.size))
          const deployment = await this.destroy(pool, 'scale-down', live.filter((c) => removing.has(c.number)), requester)
          deploymentIds.push(deployment.id)
        }
      }
      const updated = await this.pools.update(pool.id, {
        ...(request.size !== undefined ? { size: request.size } : {}),
        ...(expiresAt ? { expiresAt } : {}),
      })
      if (expiresAt) await scheduleExpiry(this.boss, name, expiresAt)
      return { pool: updated!, deploymentIds }
    })
  }

  /** Strip back: destroy every live clone of the pool; the pool and the clones' records are kept. */
  async strip(name: string, requester: string): Promise<PoolChange> {
    return this.locked(name, async () => {
      const pool = await this.activePool(name)
      await this.checkIdle(pool)
      const deployment = await this.destroy(pool, 'strip', await this.clones.liveOfPool(pool.id), requester)
      const updated = await this.pools.update(pool.id, { status: 'stripped' })
      return { pool: updated!, deploymentIds: [deployment.id] }
    })
  }

  /**
   * Refresh: each chosen clone is destroyed and made again from the pool's snapshot, under the same
   * name and number, at most `maxUnavailable` at once (a deployment of kind `refresh`).
   */
  async refresh(name: string, request: RefreshPoolRequest, requester: string): Promise<PoolChange> {
    if (request.maxUnavailable !== undefined) maxUnavailableFor(request.maxUnavailable, 1)
    return this.locked(name, async () => {
      const pool = await this.activePool(name)
      await this.checkIdle(pool)
      const chosen = selectClones(await this.clones.liveOfPool(pool.id), request.clones)
      const target = { parent: pool.parentName, snapshotMoref: pool.snapshotMoref ?? undefined }
      const deployment = await this.rebuild(pool, 'refresh', chosen, request.maxUnavailable, target, requester)
      const updated = pool.snapshotMoref
        ? pool
        : await this.pools.update(pool.id, { snapshotName: deployment.snapshotName, snapshotMoref: deployment.snapshotMoref })
      return { pool: updated ?? pool, deploymentIds: [deployment.id] }
    })
  }

  /**
   * Recompose: the pool moves to a snapshot of its parent (or of a new parent), recorded on the pool
   * for later scale ups, and every live clone is rebuilt onto it, at most `maxUnavailable` at once (a
   * deployment of kind `recompose`). Each new clone's provenance names the new snapshot and the clone
   * it replaced, whose record keeps the old one.
   */
  async recompose(name: string, request: RecomposePoolRequest, requester: string): Promise<PoolChange> {
    if (request.maxUnavailable !== undefined) maxUnavailableFor(request.maxUnavailable, 1)
    for (const field of ['snapshot', 'parent'] as const) {
      if (request[field] !== undefined && request[field]!.trim() === '') {
        throw new ValidationFailed({ field }, `"${field}" is empty; leave it out for the default`)
      }
    }
    return this.locked(name, async () => {
      const pool = await this.activePool(name)
      await this.checkIdle(pool)
      const parent = request.parent ?? pool.parentName
      const live = await this.clones.liveOfPool(pool.id)
      const deployment = await this.rebuild(pool, 'recompose', live, request.maxUnavailable, { parent, snapshotName: request.snapshot }, requester)
      const updated = await this.pools.update(pool.id, {
        parentName: parent,
        snapshotName: deployment.snapshotName,
        snapshotMoref: deployment.snapshotMoref,
      })
      return { pool: updated!, deploymentIds: [deployment.id] }
    })
  }

  /** The expiry job, and the start-up sweep: strips the pool if its expiry has passed. */
  async expire(name: string, now = new Date()): Promise<'stripped' | 'not-due'> {
    const pool = await this.pools.get(name)
    if (!pool || pool.status !== 'active' || !pool.expiresAt || pool.expiresAt.getTime() > now.getTime()) return 'not-due'
    await this.strip(name, 'expiry')
    return 'stripped'
  }

  /** Pools already past their expiry (the service was down at that moment), stripped now. */
  async expireOverdue(onError: (pool: string, err: unknown) => void): Promise<string[]> {
    const stripped: string[] = []
    for (const pool of await this.pools.expired()) {
      try {
        if ((await this.expire(pool.name)) === 'stripped') stripped.push(pool.name)
      } catch (err) {
        onError(pool.name, err)
      }
    }
    return stripped
  }

  private async locked<T>(name: string, work: () => Promise<T>): Promise<T> {
    const result = await this.pools.withPoolLock(name, work)
    if (!result) throw new PoolBusy({ pool: name }, name)
    return result.value
  }

  private async activePool(name: string): Promise<PoolRow> {
    const pool = await this.pools.get(name)
    if (!pool || pool.status !== 'active') throw new PoolNotFound({ pool: name }, name)
    return pool
  }

  private async checkIdle(pool: PoolRow): Promise<void> {
    const running = await this.pools.unfinishedDeployment(pool.id)
    if (running) throw new PoolBusy({ pool: pool.name, deploymentId: running.id }, pool.name)
  }

  /** 409 NAME_CONFLICT when another active pool's prefix and numbers meet this range. */
  private async checkRange(name: string, range: ReturnType<typeof poolRange>): Promise<void> {
    for (const other of await this.pools.others(name)) {
      const live = (await this.clones.liveOfPool(other.id)).map((c) => c.number)
      if (rangesOverlap(range, poolRange(other.prefix, other.startNumber, other.size, live))) {
        throw new NameConflict(
          { pool: other.name, prefix: other.prefix },
          `the pool "${other.name}" already uses the prefix "${other.prefix}" with these numbers`,
        )
      }
    }
  }

  private async deploy(pool: PoolRow, startNumber: number, count: number, requester: string): Promise<DeploymentRow> {
    const created = await this.deployments.create(poolDeploymentRequest(pool, startNumber, count), requester, { pool: { id: pool.id, name: pool.name } })
    return created.deployment
  }

  private async rebuild(
    pool: PoolRow,
    kind: 'refresh' | 'recompose',
    clones: CloneRow[],
    maxUnavailable: number | undefined,
    target: { parent: string; snapshotMoref?: string; snapshotName?: string },
    requester: string,
  ): Promise<DeploymentRow> {
    const created = await this.deployments.rebuild(
      {
        kind,
        pool: { id: pool.id, name: pool.name },
        replacing: clones,
        request: {
          ...requestFields(pool),
          parent: target.parent,
          ...(target.snapshotMoref ? { snapshotMoref: target.snapshotMoref } : {}),
          ...(target.snapshotName !== undefined ? { snapshotName: target.snapshotName } : {}),
          maxConcurrent: maxUnavailableFor(maxUnavailable, clones.length),
        },
      },
      requester,
    )
    return created.deployment
  }

  private async destroy(pool: PoolRow, kind: 'strip' | 'scale-down', clones: CloneRow[], requester: string): Promise<DeploymentRow> {
    const [source] = await this.pools.deployments(pool.id, 1)
    if (!source) throw new Error(`pool ${pool.name} has no deployment`)
    const clonesSource = clones[0] ? await this.deploymentRepository.getDeployment(clones[0].deploymentId) : undefined
    return this.pools.createDestroy(
      { pool: { id: pool.id, name: pool.name }, kind, requester, source: clonesSource ?? source, clones },
      (sql, cloneIds, deploymentId) => enqueueDestroy(this.boss, cloneIds, deploymentId, sql),
    )
  }
}

/** What a pool's deployments are made from. */
type PoolSettings = Pick<PoolRow, 'parentName' | 'prefix' | 'copiedAttributes' | 'customizationAttribute' | 'hostLimit' | 'snapshotMoref'>

/** A deployment of these numbers of the pool: from its parent and its recorded snapshot. */
export function poolDeploymentRequest(pool: PoolSettings, startNumber: number, count: number): DeploymentRequest {
  return {
    ...requestFields(pool),
    parent: pool.parentName,
    startNumber,
    count,
    ...(pool.snapshotMoref ? { snapshotMoref: pool.snapshotMoref } : {}),
  }
}

/** What every deployment of the pool asks for, as the pool records it. */
function requestFields(pool: PoolSettings) {
  return {
    prefix: pool.prefix,
    ...(pool.copiedAttributes ? { attributes: pool.copiedAttributes } : {}),
    ...(pool.customizationAttribute ? { customizationAttribute: pool.customizationAttribute } : {}),
    ...(pool.hostLimit ? { hostLimit: pool.hostLimit } : {}),
  }
}

function checkSize(size: number, min: number): void {
  if (!Number.isInteger(size) || size < min || size > MAX_POOL_SIZE) {
    throw new ValidationFailed({ field: 'size', minimum: min, maximum: MAX_POOL_SIZE }, `"size" must be an integer from ${min} to ${MAX_POOL_SIZE}`)
  }
}

function parseExpiry(value: string | undefined, now = new Date()): Date | undefined {
  if (value === undefined) return undefined
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw new ValidationFailed({ field: 'expiresAt' }, '"expiresAt" is not a date-time')
  if (at.getTime() <= now.getTime()) throw new ValidationFailed({ field: 'expiresAt' }, '"expiresAt" is in the past')
  return at
}
