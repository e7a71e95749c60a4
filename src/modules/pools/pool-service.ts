/**
 * Pools: a named desired state (parent, prefix, numbers, size, expiry). Every change is a deployment:
 * growing deploys the next free numbers (modules/deployments/deployment-service.ts), shrinking and stripping
 * back destroy clones (destroy-clone-job.ts). Operations on one pool are serialized by an advisory
 * lock, taken only for the short transaction that records a change (never across a vCenter call), and
 * by refusing a change while one of the pool's deployments is unfinished (409 POOL_BUSY).
 */
import { randomUUID } from 'node:crypto'
import type PgBoss from 'pg-boss'
import type { JobTransaction } from '../../db/job-transaction.js'
import { uniqueViolation } from '../../db/pg-errors.js'
import type { CloneRepository } from '../../db/repositories/clones.js'
import type { DeploymentRepository } from '../../db/repositories/deployments.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import type { CloneRow, DeploymentRow, PoolRow } from '../../db/schema.js'
import { maxUnavailableFor, selectClones } from '../../domain/rebuild.js'
import { contiguousRuns, nextFreeNumbers, numbersToRemove, poolRange, rangesOverlap } from '../../domain/pool.js'
import { normalizeRequest, type DeploymentPlan } from '../../domain/plan.js'
import { cloneName } from '../../domain/naming.js'
import { NameConflict, PoolBusy, PoolNotFound, ValidationFailed } from '../../errors.js'
import { enqueueDestroy } from './destroy-clone-job.js'
import { checkSize, parseExpiry, poolDeploymentRequest, requestFields } from './pool-requests.js'
import { scheduleExpiry } from './expire-pool-job.js'
import type { DeploymentService, RebuildInput } from '../deployments/deployment-service.js'
import { canSee, owningTeam, visibleTeams, type TeamFilter, type TeamMember } from '../../domain/teams.js'

/** The record this service hands out (for REST and GraphQL). */
export type { PoolRow } from '../../db/schema.js'

export interface CreatePoolRequest {
  name: string
  parent: string
  /** The team that owns it, when the caller is in several (domain/teams.ts). */
  team?: string
  prefix?: string
  /** Default: the lowest number from which all the pool's names are free (the plan chooses it). */
  startNumber?: number
  size: number
  attributes?: string[]
  customizationAttribute?: string
  hostLimit?: number
  expiresAt?: string
  /** The parent's snapshot, by moref or name; default its current one. */
  snapshot?: string
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

/**
 * The service itself acting (a pool's expiry): on any team's pool, whose own team
 * its deployments and events keep. Never built from a request.
 */
export function serviceCaller(requester: string): TeamMember {
  return { sub: requester, teams: [], admin: true }
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

  // Every read and change sees only the caller's teams' pools (admin: all): another team's pool is
  // POOL_NOT_FOUND, found before any vCenter call, lock or write.

  /** Every pool of the caller's teams, by name. */
  list(caller: TeamMember): Promise<PoolRow[]> {
    return this.pools.list(visibleTeams(caller))
  }

  /** The pool of this name, if any the caller may see. */
  find(name: string, caller: TeamMember): Promise<PoolRow | undefined> {
    return this.pools.get(name, undefined, visibleTeams(caller))
  }

  /** The pool with its live clones and last deployments (GET /v1/pools/{name}); throws POOL_NOT_FOUND. */
  async detail(name: string, caller: TeamMember): Promise<{ pool: PoolRow; clones: CloneRow[]; deployments: DeploymentRow[] }> {
    const pool = await this.pools.get(name, undefined, visibleTeams(caller))
    if (!pool) throw new PoolNotFound({ pool: name }, name)
    const [clones, deployments] = await Promise.all([this.clones.liveOfPool(pool.id), this.pools.deployments(pool.id)])
    return { pool, clones, deployments }
  }

  /** Each pool's clones that are neither failed nor destroyed, by number, by pool id (GraphQL's Pool.clones, many pools in one read). */
  liveClonesOfPools(poolIds: readonly string[], teams: TeamFilter): Promise<Map<string, CloneRow[]>> {
    return this.clones.liveByPoolIds(poolIds, teams)
  }

  /** Each pool's latest `limit` deployments, newest first, by pool id (GraphQL's Pool.deployments, many pools in one read). */
  latestDeploymentsOfPools(poolIds: readonly string[], limit: number, teams: TeamFilter): Promise<Map<string, DeploymentRow[]>> {
    return this.deploymentRepository.latestByPoolIds(poolIds, limit, teams)
  }

  // ---- changes --------------------------------------------------------------------------------
  //
  // Each change is planned first, with vCenter's read-only calls and no lock held; then one short
  // transaction takes the pool's lock on its own connection (refused at once with 409 POOL_BUSY when
  // another holds it), checks the records again (the pool idle, unchanged since the plan, its numbers
  // free) and records the pool, the deployments and their jobs on that same connection. Between
  // requests, the pool's unfinished deployment is what keeps it busy.

  /** Every refusal create can give before the lock, and the plan: read-only calls, nothing recorded. */
  private async planCreate(request: CreatePoolRequest, teams: TeamFilter) {
    checkSize(request.size, 1)
    const expiresAt = parseExpiry(request.expiresAt)
    // The prefix as a deployment would choose it (and 400 for a parent name without one).
    const { prefix } = normalizeRequest({ parent: request.parent, prefix: request.prefix, startNumber: request.startNumber ?? 1, count: request.size })
    // Refusals the records give at once, before vCenter is asked (checked again under the lock).
    await this.checkNameFree(request.name)
    if (request.startNumber !== undefined) await this.checkRange(request.name, poolRange(prefix, request.startNumber, request.size), teams)
    const plan = await this.deployments.plan({
      prefix,
      ...(request.attributes ? { attributes: request.attributes } : {}),
      ...(request.customizationAttribute ? { customizationAttribute: request.customizationAttribute } : {}),
      ...(request.hostLimit ? { hostLimit: request.hostLimit } : {}),
      ...(request.snapshot !== undefined ? { snapshot: request.snapshot } : {}),
      parent: request.parent,
      ...(request.startNumber !== undefined ? { startNumber: request.startNumber } : {}),
      count: request.size,
    }, request.startNumber === undefined ? { reserved: await this.namesOfOtherPools(request.name, prefix) } : {})
    // A chosen start is checked against the other pools' numbers too (one created meanwhile).
    if (request.startNumber === undefined) await this.checkRange(request.name, poolRange(prefix, plan.startNumber, request.size), teams)
    return { plan, prefix, expiresAt }
  }

  /** What create would deploy, with the same refusals, from read-only calls: nothing is recorded. */
  async plan(request: CreatePoolRequest, caller: TeamMember): Promise<DeploymentPlan> {
    // The same team refusals as create, before anything is planned.
    owningTeam(caller, request.team)
    return (await this.planCreate(request, visibleTeams(caller))).plan
  }

  async create(request: CreatePoolRequest, caller: TeamMember, ticket?: string): Promise<PoolChange> {
    // Refused before any vCenter call: a caller of several teams must say which one owns it.
    const team = owningTeam(caller, request.team)
    const requester = caller.sub
    const teams = visibleTeams(caller)
    const { plan, prefix, expiresAt } = await this.planCreate(request, teams)
    // Given, or the plan's choice.
    const startNumber = plan.startNumber
    try {
      return await this.locked(request.name, plan.names, this.tagged(caller, ticket, async (tx) => {
        const earlier = await this.checkNameFree(request.name, tx)
        // A stripped pool of this name may still be destroying its clones.
        if (earlier) await this.checkIdle(earlier, tx, teams)
        await this.checkRange(request.name, poolRange(prefix, startNumber, request.size), teams, tx)
        // A new record, even under a stripped pool's name (whose record, deployments and clones stay as
        // they are); in the same transaction as its first deployment, so a refused one leaves no pool.
        const pool = await this.pools.insert(
          {
            id: randomUUID(),
            name: request.name,
            parentName: request.parent,
            prefix,
            startNumber,
            size: request.size,
            copiedAttributes: request.attributes ?? null,
            customizationAttribute: request.customizationAttribute ?? null,
            hostLimit: request.hostLimit ?? null,
            expiresAt: expiresAt ?? null,
            // The pool keeps to the snapshot of its first deployment (scale ups, refreshes) until a
            // recompose moves it; a stripped pool's recorded snapshot does not carry over.
            snapshotName: plan.snapshot.name,
            snapshotMoref: plan.snapshot.moref,
            requester,
            team,
          },
          tx,
        )
        const { deployment } = await this.deployments.record(plan, { requester, team: pool.team, pool }, tx)
        if (expiresAt) await scheduleExpiry(this.boss, request.name, expiresAt, tx.sql)
        return { pool, deploymentIds: [deployment.id] }
      }))
    } catch (err) {
      // Another request made a pool of this name between our check and our insert.
      if (uniqueViolation(err) === 'pools_current_name_idx') {
        throw new NameConflict({ pool: request.name }, `a pool named "${request.name}" already exists`)
      }
      throw err
    }
  }

  async change(name: string, request: ChangePoolRequest, caller: TeamMember, ticket?: string): Promise<PoolChange> {
    const teams = visibleTeams(caller)
    const requester = caller.sub
    if (request.size === undefined && request.expiresAt === undefined) {
      throw new ValidationFailed({ field: 'size' }, 'give "size", "expiresAt" or both')
    }
    if (request.size !== undefined) checkSize(request.size, 0)
    const expiresAt = parseExpiry(request.expiresAt)
    const planned = await this.activePool(name, teams)
    const resize = request.size !== undefined && request.size !== planned.size ? request.size : undefined
    const live = resize === undefined ? [] : await this.clones.liveOfPool(planned.id)
    const numbers = live.map((c) => c.number)
    const adding = resize !== undefined && resize > live.length ? nextFreeNumbers(numbers, planned.startNumber, resize - live.length) : []
    const removing = new Set(resize !== undefined && resize < live.length ? numbersToRemove(numbers, live.length - resize) : [])
    const plans: DeploymentPlan[] = []
    if (resize !== undefined) {
      await this.checkIdle(planned)
      if (adding.length) await this.checkRange(name, poolRange(planned.prefix, planned.startNumber, resize, [...numbers, ...adding]), teams)
      for (const run of contiguousRuns(adding)) plans.push(await this.deployments.plan(poolDeploymentRequest(planned, run.startNumber, run.count)))
    }
    return this.locked(
      name,
      plans.flatMap((p) => p.names),
      this.tagged(caller, ticket, async (tx) => {
        const pool = await this.activePool(name, teams, tx)
        const deploymentIds: string[] = []
        if (resize !== undefined) {
          await this.checkIdle(pool, tx)
          await this.checkUnchanged(planned, live, pool, tx)
          if (adding.length) {
            await this.checkRange(name, poolRange(pool.prefix, pool.startNumber, resize, [...numbers, ...adding]), teams, tx)
            for (const plan of plans) deploymentIds.push((await this.deployments.record(plan, { requester, team: pool.team, pool }, tx)).deployment.id)
          } else if (removing.size) {
            const deployment = await this.destroy(pool, 'scale-down', live.filter((c) => removing.has(c.number)), requester, tx)
            deploymentIds.push(deployment.id)
          }
        }
        const updated = await this.pools.update(
          pool.id,
          {
            ...(request.size !== undefined ? { size: request.size } : {}),
            ...(expiresAt ? { expiresAt } : {}),
          },
          tx,
        )
        if (expiresAt) await scheduleExpiry(this.boss, name, expiresAt, tx.sql)
        return { pool: updated!, deploymentIds }
      }),
    )
  }

  /** Strip back: destroy every live clone of the pool; the pool and the clones' records are kept. */
  async strip(name: string, caller: TeamMember, ticket?: string): Promise<PoolChange> {
    const teams = visibleTeams(caller)
    const requester = caller.sub
    // Before the lock: another team's pool is not even locked.
    await this.activePool(name, teams)
    return this.locked(name, [], this.tagged(caller, ticket, async (tx) => {
      const pool = await this.activePool(name, teams, tx)
      await this.checkIdle(pool, tx)
      const deployment = await this.destroy(pool, 'strip', await this.clones.liveOfPool(pool.id, tx), requester, tx)
      const updated = await this.pools.markStripped(pool.id, requester, deployment.id, { ticket: ticket ?? null, requestId: caller.requestId ?? null }, tx)
      return { pool: updated!, deploymentIds: [deployment.id] }
    }))
  }

  /**
   * Refresh: each chosen clone is destroyed and made again from the pool's snapshot, under the same
   * name and number, at most `maxUnavailable` at once (a deployment of kind `refresh`).
   */
  async refresh(name: string, request: RefreshPoolRequest, caller: TeamMember, ticket?: string): Promise<PoolChange> {
    const teams = visibleTeams(caller)
    const requester = caller.sub
    if (request.maxUnavailable !== undefined) maxUnavailableFor(request.maxUnavailable, 1)
    const planned = await this.activePool(name, teams)
    await this.checkIdle(planned)
    const live = await this.clones.liveOfPool(planned.id)
    const chosen = selectClones(live, request.clones)
    const target = { parent: planned.parentName, snapshotMoref: planned.snapshotMoref ?? undefined }
    const input = this.rebuildInput(planned, 'refresh', chosen, request.maxUnavailable, target)
    const plan = await this.deployments.planRebuild(input)
    return this.locked(name, [], this.tagged(caller, ticket, async (tx) => {
      const pool = await this.activePool(name, teams, tx)
      await this.checkIdle(pool, tx)
      await this.checkUnchanged(planned, live, pool, tx)
      const { deployment } = await this.deployments.recordRebuild(input, plan, requester, tx)
      const updated = pool.snapshotMoref
        ? pool
        : await this.pools.update(pool.id, { snapshotName: deployment.snapshotName, snapshotMoref: deployment.snapshotMoref }, tx)
      return { pool: updated ?? pool, deploymentIds: [deployment.id] }
    }))
  }

  /**
   * Recompose: the pool moves to a snapshot of its parent (or of a new parent), recorded on the pool
   * for later scale ups, and every live clone is rebuilt onto it, at most `maxUnavailable` at once (a
   * deployment of kind `recompose`). Each new clone's provenance names the new snapshot and the clone
   * it replaced, whose record keeps the old one.
   */
  async recompose(name: string, request: RecomposePoolRequest, caller: TeamMember, ticket?: string): Promise<PoolChange> {
    const teams = visibleTeams(caller)
    const requester = caller.sub
    if (request.maxUnavailable !== undefined) maxUnavailableFor(request.maxUnavailable, 1)
    for (const field of ['snapshot', 'parent'] as const) {
      if (request[field] !== undefined && request[field]!.trim() === '') {
        throw new ValidationFailed({ field }, `"${field}" is empty; leave it out for the default`)
      }
    }
    const planned = await this.activePool(name, teams)
    await this.checkIdle(planned)
    const parent = request.parent ?? planned.parentName
    const live = await this.clones.liveOfPool(planned.id)
    const input = this.rebuildInput(planned, 'recompose', live, request.maxUnavailable, { parent, snapshotName: request.snapshot })
    const plan = await this.deployments.planRebuild(input)
    return this.locked(name, [], this.tagged(caller, ticket, async (tx) => {
      const pool = await this.activePool(name, teams, tx)
      await this.checkIdle(pool, tx)
      await this.checkUnchanged(planned, live, pool, tx)
      const { deployment } = await this.deployments.recordRebuild(input, plan, requester, tx)
      const updated = await this.pools.update(
        pool.id,
        { parentName: parent, snapshotName: deployment.snapshotName, snapshotMoref: deployment.snapshotMoref },
        tx,
      )
      return { pool: updated!, deploymentIds: [deployment.id] }
    }))
  }

  /** The expiry job, and the start-up sweep: strips the pool if its expiry has passed. */
  async expire(name: string, now = new Date()): Promise<'stripped' | 'not-due'> {
    const pool = await this.pools.get(name)
    if (!pool || pool.status !== 'active' || !pool.expiresAt || pool.expiresAt.getTime() > now.getTime()) return 'not-due'
    // The service itself: the pool's deployments and events keep its own team.
    await this.strip(name, serviceCaller('expiry'))
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

  /**
   * `work` in the pool's locked transaction (409 POOL_BUSY at once when another holds the lock); a
   * clone name taken meanwhile by another deployment (the live-name index) is 409 NAME_CONFLICT with
   * `names`, read once the transaction has rolled back.
   */
  /** `work`, then the ticket and the caller's request id recorded on the deployments it made, in its transaction. */
  private tagged(
    caller: TeamMember,
    ticket: string | undefined,
    work: (tx: JobTransaction) => Promise<PoolChange>,
  ): (tx: JobTransaction) => Promise<PoolChange> {
    return async (tx) => {
      const change = await work(tx)
      await this.pools.tagDeployments(change.deploymentIds, { ticket, requestId: caller.requestId }, tx)
      return change
    }
  }

  private async locked<T>(name: string, names: string[], work: (tx: JobTransaction) => Promise<T>): Promise<T> {
    const result = await this.deployments.refusingTakenNames(names, () => this.pools.withPoolLock(name, work))
    if (!result) throw new PoolBusy({ pool: name }, name)
    return result.value
  }

  private async activePool(name: string, teams: TeamFilter, tx?: JobTransaction): Promise<PoolRow> {
    const pool = await this.pools.get(name, tx, teams)
    if (!pool || pool.status !== 'active') throw new PoolNotFound({ pool: name }, name)
    return pool
  }

  /**
   * 409 NAME_CONFLICT when a current pool holds the name; else the latest stripped pool of the name, if any.
   * Names are global (they are vCenter's VM names), so another team's pool holds it too; the answer is
   * the same whoever owns it and never names the owning team.
   */
  private async checkNameFree(name: string, tx?: JobTransaction): Promise<PoolRow | undefined> {
    const existing = await this.pools.get(name, tx)
    if (existing && existing.status === 'active') {
      throw new NameConflict({ pool: name }, `a pool named "${name}" already exists`)
    }
    return existing
  }

  /** 409 POOL_BUSY while a deployment of the pool runs (its id shown only to who may see the pool). */
  private async checkIdle(pool: PoolRow, tx?: JobTransaction, teams: TeamFilter = 'all'): Promise<void> {
    const running = await this.pools.unfinishedDeployment(pool.id, tx)
    if (running) throw new PoolBusy({ pool: pool.name, ...(canSee(teams, pool.team) ? { deploymentId: running.id } : {}) }, pool.name)
  }

  /** 409 POOL_BUSY when the pool or its live clones changed between the plan and the lock (another change got there first). */
  private async checkUnchanged(planned: PoolRow, plannedLive: CloneRow[], pool: PoolRow, tx: JobTransaction): Promise<void> {
    const ids = (clones: CloneRow[]) => clones.map((c) => c.id).join(',')
    if (pool.updatedAt.getTime() !== planned.updatedAt.getTime() || ids(await this.clones.liveOfPool(pool.id, tx)) !== ids(plannedLive)) {
      throw new PoolBusy({ pool: pool.name, reason: 'changed meanwhile' }, pool.name)
    }
  }

  /** Every other active pool (any team's) with the range of numbers it holds: two queries, whatever their number. */
  private async otherPoolRanges(name: string, tx?: JobTransaction) {
    const others = await this.pools.others(name, tx)
    const live = await this.clones.liveNumbersOfPools(others.map((p) => p.id), tx)
    return others.map((other) => ({ other, range: poolRange(other.prefix, other.startNumber, other.size, live.get(other.id) ?? []) }))
  }

  /**
   * Every name other active pools of this prefix hold, their VMs made or not (a pool created a moment
   * ago has none yet): a start chosen for a new pool passes over them instead of answering NAME_CONFLICT.
   */
  private async namesOfOtherPools(name: string, prefix: string): Promise<string[]> {
    const names: string[] = []
    for (const { other, range } of await this.otherPoolRanges(name)) {
      if (other.prefix.toLowerCase() !== prefix.toLowerCase()) continue
      for (let n = range.first; n <= range.last; n++) names.push(cloneName(prefix, n))
    }
    return names
  }

  /**
   * 409 NAME_CONFLICT when another active pool's prefix and numbers meet this range (any team's: the
   * VM names are global); another team's pool is not named, only its prefix, which the names show anyway.
   */
  private async checkRange(name: string, range: ReturnType<typeof poolRange>, teams: TeamFilter, tx?: JobTransaction): Promise<void> {
    for (const { other, range: held } of await this.otherPoolRanges(name, tx)) {
      if (rangesOverlap(range, held)) {
        if (!canSee(teams, other.team)) {
          throw new NameConflict({ prefix: other.prefix }, `another team's pool already uses the prefix "${other.prefix}" with these numbers`)
        }
        throw new NameConflict(
          { pool: other.name, prefix: other.prefix },
          `the pool "${other.name}" already uses the prefix "${other.prefix}" with these numbers`,
        )
      }
    }
  }

  private rebuildInput(
    pool: PoolRow,
    kind: 'refresh' | 'recompose',
    clones: CloneRow[],
    maxUnavailable: number | undefined,
    target: { parent: string; snapshotMoref?: string; snapshotName?: string },
  ): RebuildInput {
    return {
      kind,
      pool: { id: pool.id, name: pool.name, team: pool.team },
      replacing: clones,
      request: {
        ...requestFields(pool),
        parent: target.parent,
        ...(target.snapshotMoref ? { snapshotMoref: target.snapshotMoref } : {}),
        ...(target.snapshotName !== undefined ? { snapshotName: target.snapshotName } : {}),
        maxConcurrent: maxUnavailableFor(maxUnavailable, clones.length),
      },
    }
  }

  private async destroy(pool: PoolRow, kind: 'strip' | 'scale-down', clones: CloneRow[], requester: string, tx: JobTransaction): Promise<DeploymentRow> {
    const [source] = await this.pools.deployments(pool.id, 1, tx)
    if (!source) throw new Error(`pool ${pool.name} has no deployment`)
    const clonesSource = clones[0] ? await this.deploymentRepository.getDeployment(clones[0].deploymentId, tx) : undefined
    return this.pools.createDestroy(
      { pool: { id: pool.id, name: pool.name, team: pool.team }, kind, requester, source: clonesSource ?? source, clones },
      (sql, cloneIds, deploymentId) => enqueueDestroy(this.boss, cloneIds, deploymentId, sql),
      tx,
    )
  }
}
