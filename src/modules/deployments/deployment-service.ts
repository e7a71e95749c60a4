/**
 * Accepting a deployment: check everything with read-only calls, then record it and its jobs in one
 * transaction. A refused request changes nothing in vCenter or in the database.
 */
import type PgBoss from 'pg-boss'
import type { CloneStepRepository } from '../../db/repositories/clone-steps.js'
import type { CloneRepository } from '../../db/repositories/clones.js'
import {
  ReplacedClonesChanged,
  deploymentCursorKey,
  type DeploymentFilter,
  type DeploymentRepository,
  type DeploymentWithClones,
  type ListedDeployment,
  type ProgressSnapshot,
} from '../../db/repositories/deployments.js'
import type { JobTransaction } from '../../db/job-transaction.js'
import type { PoolRef } from '../../db/repositories/pools.js'
import { uniqueViolation } from '../../db/pg-errors.js'
import type { CloneRow, CloneStepRow, DeploymentRow } from '../../db/schema.js'
import type { CloneStatus } from '../../domain/progress.js'
import { NameConflict, ParentAmbiguous, ParentNotFound, PoolBusy, ValidationFailed } from '../../errors.js'
import { decodeCursor, encodeCursor } from '../../graphql/pagination.js'
import { buildPlan, normalizeRequest, type DeploymentPlan, type DeploymentRequest, type ParentFacts } from '../../domain/plan.js'
import { lowestFreeStart } from '../../domain/naming.js'
import { owningTeam, type TeamFilter, type TeamMember } from '../../domain/teams.js'
import { chooseSnapshot } from '../../domain/rebuild.js'
import { checkDatastoreSpace } from '../../domain/space.js'
import { provisionedGBPerClone } from '../../domain/quota.js'
import { enqueueProvisioning } from './provision-clone-job.js'
import { DEPLOYMENT_CLONES_SHOWN, cloneCursorKey } from '../../domain/clone-order.js'
import type { PlanInventory, VcenterGateway } from '../../vcenter/gateway.js'
import { forClient } from '../../vcenter/client-errors.js'


function decodeListCursor(cursor: string): string[] {
  try {
    return decodeCursor(cursor, 2)!
  } catch {
    throw new ValidationFailed({ field: 'cursor' }, '"cursor" is not a cursor given by this API')
  }
}

/** The records this service hands out, and the key its pages' cursors hold (for REST and GraphQL). */
export type { CloneRow, CloneStepRow, DeploymentRow } from '../../db/schema.js'
export { deploymentCursorKey, type DeploymentFilter } from '../../db/repositories/deployments.js'

export class DeploymentService {
  constructor(
    private readonly repository: DeploymentRepository,
    private readonly clones: CloneRepository,
    private readonly steps: CloneStepRepository,
    private readonly vcenter: VcenterGateway,
    private readonly boss: PgBoss,
  ) {}

  // ---- reads ----------------------------------------------------------------------------------

  /**
   * A deployment with its clones (those it made, or those it destroys) and a rebuild's replaced clones;
   * undefined when missing or of a team outside `teams` (the caller answers both alike: 404).
   */
  async get(id: string, teams: TeamFilter): Promise<DeploymentWithClones | undefined> {
    const deployment = await this.repository.getDeployment(id, undefined, teams)
    if (!deployment) return undefined
    // Counted in SQL, and only the first clones read: a deployment of 2,000 is not loaded whole.
    const [progress, rows] = await Promise.all([
      this.clones.progressOfDeployment(deployment.id),
      this.clones.ofDeploymentPage(deployment.id, DEPLOYMENT_CLONES_SHOWN + 1),
    ])
    const shown = rows.slice(0, DEPLOYMENT_CLONES_SHOWN)
    const clonesNextCursor = rows.length > DEPLOYMENT_CLONES_SHOWN ? encodeCursor(cloneCursorKey(shown.at(-1)!)) : null
    const replacedIds = shown.flatMap((c) => (c.replacesCloneId ? [c.replacesCloneId] : []))
    const replaced = replacedIds.length === 0 ? undefined : await this.clones.byIds(replacedIds)
    return { deployment, clones: shown, replaced, progress, clonesNextCursor }
  }

  /** A page of deployments, newest first, after the cursor's key (deploymentCursorKey); `filter.teams`: the caller's. */
  page(filter: DeploymentFilter & { teams: TeamFilter }, limit: number, after?: string[]): Promise<ListedDeployment[]> {
    return this.repository.page(filter, limit, after)
  }

  count(filter: DeploymentFilter & { teams: TeamFilter }): Promise<number> {
    return this.repository.count(filter)
  }

  /**
   * GET /v1/deployments: a page of deployments, newest first, with their clones' counts by status, and
   * the opaque cursor of the next page (null on the last), as GraphQL's deployments connection.
   */
  async list(filter: DeploymentFilter & { teams: TeamFilter }, limit: number, cursor?: string) {
    const rows = await this.repository.page(filter, limit + 1, cursor === undefined ? undefined : decodeListCursor(cursor))
    const shown = rows.slice(0, limit)
    const counts = await this.repository.statusCountsByIds(shown.map((d) => d.id))
    const nextCursor = rows.length > limit ? encodeCursor(deploymentCursorKey(shown.at(-1)!)) : null
    return { items: shown.map((deployment) => ({ deployment, counts: counts.get(deployment.id) ?? [] })), nextCursor }
  }

  /** Batch reads by many keys at once (GraphQL's loaders), of the caller's teams only. */
  byIds(ids: readonly string[], teams: TeamFilter): Promise<Map<string, DeploymentRow>> {
    return this.repository.byIds(ids, teams)
  }

  clonesOf(ids: readonly string[], teams: TeamFilter): Promise<Map<string, CloneRow[]>> {
    return this.clones.byDeploymentIds(ids, teams)
  }

  statusCounts(ids: readonly string[]): Promise<Map<string, { status: CloneStatus; n: number }[]>> {
    return this.repository.statusCountsByIds(ids)
  }

  stepsOf(cloneIds: readonly string[]): Promise<Map<string, CloneStepRow[]>> {
    return this.steps.stepsByCloneIds(cloneIds)
  }

  /** The deployment's progress now, for a subscription's first event and its resyncs; undefined for another team's. */
  progressSnapshot(id: string, teams: TeamFilter): Promise<ProgressSnapshot | undefined> {
    return this.repository.progressSnapshot(id, teams)
  }

  // ---- accepting work -------------------------------------------------------------------------

  /**
   * Every check, with read-only calls: the plan a deployment would follow, or the refusal.
   * `releasing`: names of the service's clones the same transaction will mark destroyed before it
   * records this deployment (a reconcile's missing clones), not counted as taken. `reserved`: names
   * held without a VM yet (another pool's numbers), passed over when choosing the start.
   */
  async plan(request: DeploymentRequest, options: { releasing?: string[]; reserved?: string[] } = {}): Promise<DeploymentPlan> {
    const choosing = request.startNumber === undefined
    let normalized = normalizeRequest({ ...request, startNumber: request.startNumber ?? 1 })
    // Without a startNumber, every name with the prefix is read (in the same call), to choose the lowest free start.
    const inventory = await forClient(
      this.vcenter.readPlanInventory(normalized.parent, normalized.customizationAttribute, normalized.names, choosing ? normalized.prefix : undefined),
    )
    const parent = parentOf(inventory, normalized.parent)
    if (choosing) {
      const own = (await this.repository.namesWithPrefix(normalized.prefix)).filter((n) => !options.releasing?.includes(n))
      normalized = normalizeRequest({ ...request, startNumber: lowestFreeStart(normalized.prefix, normalized.count, [...inventory.existingNames, ...own, ...(options.reserved ?? [])]) })
    }
    const [ownNames, parentClonesByHost, pendingClones] = await Promise.all([
      this.repository.namesInUse(normalized.names),
      this.repository.parentClonesByHost(parent.moref),
      inventory.space ? this.repository.clonesNotYetPoweredOn(inventory.space.datastore.moref) : 0,
    ])
    const plan = buildPlan(normalized, {
      parent: withChosenSnapshot(parent, request),
      customizationSpecExists: inventory.customizationSpecExists,
      takenNames: [...inventory.existingNames, ...ownNames.filter((n) => !options.releasing?.includes(n))],
      hosts: inventory.hosts,
      parentClonesByHost,
    })
    if (choosing) plan.startNumberChosen = true
    // Its share of the team's provisioned-GB quota: the space the check below sets aside per clone.
    plan.provisionedGBPerClone = provisionedGBPerClone(inventory.space?.memoryMB)
    // 422 INSUFFICIENT_SPACE when the clones would not fit (src/domain/space.ts), after every other check.
    if (inventory.space) {
      checkDatastoreSpace(inventory.space.datastore, { count: plan.count, memoryMB: inventory.space.memoryMB, pendingClones })
    }
    return plan
  }

  /**
   * A dry run for `caller`: the team is checked as create checks it (TEAM_REQUIRED, TEAM_FORBIDDEN),
   * before any vCenter call, so that a dry run answers what the real request would.
   */
  dryRun(request: DeploymentRequest, caller: TeamMember): Promise<DeploymentPlan> {
    owningTeam(caller, request.team)
    return this.plan(request)
  }

  /** Plans (read-only calls), then records the deployment and its jobs in one short transaction. */
  async create(request: DeploymentRequest, caller: TeamMember): Promise<DeploymentWithClones> {
    // Refused before any vCenter call: a caller of several teams must say which one owns it.
    const team = owningTeam(caller, request.team)
    const plan = await this.plan(request)
    return this.refusingTakenNames(plan.names, () => this.record(plan, { requester: caller.sub, team, ticket: request.ticket, requestId: caller.requestId }))
  }

  /**
   * Records a planned deployment, its clones and their jobs: in the caller's transaction `tx` when
   * given (a pool's locked transaction, which maps a name conflict itself once rolled back), else in
   * one of its own. 409 PARENT_BUSY while a snapshot of the parent is removed or reverted to.
   */
  record(
    plan: DeploymentPlan,
    meta: { requester: string; team: string; ticket?: string; requestId?: string; pool?: PoolRef; kind?: 'deploy' | 'reconcile' },
    tx?: JobTransaction,
  ): Promise<DeploymentWithClones> {
    return this.repository.create({ plan, ...meta }, (sql, cloneIds) => enqueueProvisioning(this.boss, cloneIds, sql), tx)
  }

  /**
   * `work`, with a unique violation of the live-name index (another deployment took some of these
   * names between our check and our insert; concurrent identical requests) answered as 409
   * NAME_CONFLICT listing the names taken. Call it outside any transaction: the names are read after
   * the failed one has rolled back.
   */
  async refusingTakenNames<T>(names: string[], work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      if (uniqueViolation(err) !== 'clones_live_name_idx') throw err
      const taken = await this.repository.namesInUse(names)
      throw new NameConflict({ names: taken.length ? taken : names }, (taken.length ? taken : names).join(', '))
    }
  }

  /**
   * A pool's rebuild (refresh, recompose, a reconcile's rebuild of clones failed in the guest step): the same checks as a deployment's (parent, snapshot,
   * customization spec, hosts) for clones that keep the names and numbers of those they replace
   * (which are the service's own VMs, so their names are not conflicts), then the deployment, its
   * `waiting` clones and their jobs in one transaction. `request.maxConcurrent` is the rebuild's
   * maxUnavailable. No space check: each replacement frees its old VM's space before it takes its own.
   * The plan (read-only calls) is planRebuild's; recordRebuild records it, in the caller's transaction.
   */
  async rebuild(input: RebuildInput, requester: string): Promise<DeploymentWithClones> {
    return this.recordRebuild(input, await this.planRebuild(input), requester)
  }

  async planRebuild(input: RebuildInput): Promise<DeploymentPlan> {
    const { request, replacing } = input
    const names = replacing.map((c) => c.name)
    const normalized = {
      ...normalizeRequest({ ...request, startNumber: replacing[0]?.number ?? 0, count: 0 }),
      count: replacing.length,
      names,
    }
    const inventory = await forClient(this.vcenter.readPlanInventory(normalized.parent, normalized.customizationAttribute, []))
    const parent = parentOf(inventory, normalized.parent)
    const plan = buildPlan(normalized, {
      parent: withChosenSnapshot(parent, request),
      customizationSpecExists: inventory.customizationSpecExists,
      takenNames: [],
      hosts: inventory.hosts,
      parentClonesByHost: await this.repository.parentClonesByHost(parent.moref),
    })
    // Recorded on the replacements (a recompose may change the parent); the rebuild adds no usage.
    plan.provisionedGBPerClone = provisionedGBPerClone(inventory.space?.memoryMB)
    return plan
  }

  /** Records a planned rebuild; 409 POOL_BUSY when a clone to replace changed meanwhile. */
  async recordRebuild(input: RebuildInput, plan: DeploymentPlan, requester: string, tx?: JobTransaction): Promise<DeploymentWithClones> {
    try {
      return await this.repository.create(
        { plan, requester, team: input.pool.team, pool: input.pool, kind: input.kind, replacing: input.replacing },
        (sql, cloneIds) => enqueueProvisioning(this.boss, cloneIds, sql),
        tx,
      )
    } catch (err) {
      // A clone to replace changed meanwhile (another operation got there first).
      const constraint = uniqueViolation(err)
      if (err instanceof ReplacedClonesChanged || constraint === 'clones_replaces_idx' || constraint === 'clones_live_name_idx') {
        throw new PoolBusy({ pool: input.pool.name }, input.pool.name)
      }
      throw err
    }
  }
}

export interface RebuildInput {
  /** `reconcile`: clones failed in the guest step, their VMs still there (pool-reconciler.ts). */
  kind: 'refresh' | 'recompose' | 'reconcile'
  pool: PoolRef
  request: Omit<DeploymentRequest, 'startNumber' | 'count'>
  replacing: CloneRow[]
}

/** The parent the inventory found: 404 PARENT_NOT_FOUND without one, 409 PARENT_AMBIGUOUS with several. */
function parentOf(inventory: PlanInventory, name: string): ParentFacts {
  if (inventory.ambiguousParent) throw new ParentAmbiguous({ parent: name, morefs: inventory.ambiguousParent }, name)
  if (!inventory.parent) throw new ParentNotFound({ parent: name }, name)
  return inventory.parent
}

/** The parent with the snapshot the request names (by moref or name) as the one to clone from. */
function withChosenSnapshot(parent: ParentFacts, request: Pick<DeploymentRequest, 'snapshotMoref' | 'snapshotName' | 'snapshot'>): ParentFacts {
  // `snapshot` (a request's name or moref) is resolved as a recompose's name is: moref first, else name.
  const name = request.snapshotName ?? request.snapshot
  if (!request.snapshotMoref && name === undefined) return parent
  return { ...parent, currentSnapshot: chooseSnapshot(parent, { moref: request.snapshotMoref, name }) }
}
