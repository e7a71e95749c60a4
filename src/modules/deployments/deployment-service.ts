/**
 * Accepting a deployment: check everything with read-only calls, then record it and its jobs in one
 * transaction. A refused request changes nothing in vCenter or in the database.
 */
import type PgBoss from 'pg-boss'
import type { CloneStepRepository } from '../../db/repositories/clone-steps.js'
import type { CloneRepository } from '../../db/repositories/clones.js'
import {
  ReplacedClonesChanged,
  type DeploymentFilter,
  type DeploymentRepository,
  type DeploymentWithClones,
  type ListedDeployment,
  type NewDeployment,
  type ProgressSnapshot,
} from '../../db/repositories/deployments.js'
import type { CloneRow, CloneStepRow, DeploymentRow } from '../../db/schema.js'
import type { CloneStatus } from '../../domain/progress.js'
import { NameConflict, ParentAmbiguous, ParentNotFound, PoolBusy } from '../../errors.js'
import { buildPlan, normalizeRequest, type DeploymentPlan, type DeploymentRequest, type ParentFacts } from '../../domain/plan.js'
import { chooseSnapshot } from '../../domain/rebuild.js'
import { checkDatastoreSpace } from '../../domain/space.js'
import { enqueueProvisioning } from './provision-clone-job.js'
import type { PlanInventory, VcenterGateway } from '../../vcenter/gateway.js'
import { forClient } from '../../vcenter/client-errors.js'

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

  /** A deployment with its clones (those it made, or those it destroys) and a rebuild's replaced clones. */
  async get(id: string): Promise<DeploymentWithClones | undefined> {
    const deployment = await this.repository.getDeployment(id)
    if (!deployment) return undefined
    const rows = await this.clones.ofDeployment(deployment)
    const replacedIds = rows.flatMap((c) => (c.replacesCloneId ? [c.replacesCloneId] : []))
    if (replacedIds.length === 0) return { deployment, clones: rows }
    return { deployment, clones: rows, replaced: await this.clones.byIds(replacedIds) }
  }

  /** A page of deployments, newest first, after the cursor's key (deploymentCursorKey). */
  page(filter: DeploymentFilter, limit: number, after?: string[]): Promise<ListedDeployment[]> {
    return this.repository.page(filter, limit, after)
  }

  count(filter: DeploymentFilter): Promise<number> {
    return this.repository.count(filter)
  }

  /** Batch reads by many keys at once (GraphQL's loaders). */
  byIds(ids: readonly string[]): Promise<Map<string, DeploymentRow>> {
    return this.repository.byIds(ids)
  }

  clonesOf(ids: readonly string[]): Promise<Map<string, CloneRow[]>> {
    return this.clones.byDeploymentIds(ids)
  }

  statusCounts(ids: readonly string[]): Promise<Map<string, { status: CloneStatus; n: number }[]>> {
    return this.repository.statusCountsByIds(ids)
  }

  stepsOf(cloneIds: readonly string[]): Promise<Map<string, CloneStepRow[]>> {
    return this.steps.stepsByCloneIds(cloneIds)
  }

  /** The deployment's progress now, for a subscription's first event and its resyncs. */
  progressSnapshot(id: string): Promise<ProgressSnapshot | undefined> {
    return this.repository.progressSnapshot(id)
  }

  // ---- accepting work -------------------------------------------------------------------------

  /** Every check, with read-only calls: the plan a deployment would follow, or the refusal. */
  async plan(request: DeploymentRequest): Promise<DeploymentPlan> {
    const normalized = normalizeRequest(request)
    const inventory = await forClient(
      this.vcenter.readPlanInventory(normalized.parent, normalized.customizationAttribute, normalized.names),
    )
    const parent = parentOf(inventory, normalized.parent)
    const [ownNames, parentClonesByHost, pendingClones] = await Promise.all([
      this.repository.namesInUse(normalized.names),
      this.repository.parentClonesByHost(parent.moref),
      inventory.space ? this.repository.clonesNotYetPoweredOn(inventory.space.datastore.moref) : 0,
    ])
    const plan = buildPlan(normalized, {
      parent: withChosenSnapshot(parent, request),
      customizationSpecExists: inventory.customizationSpecExists,
      takenNames: [...inventory.existingNames, ...ownNames],
      hosts: inventory.hosts,
      parentClonesByHost,
    })
    // 422 INSUFFICIENT_SPACE when the clones would not fit (src/domain/space.ts), after every other check.
    if (inventory.space) {
      checkDatastoreSpace(inventory.space.datastore, { count: plan.count, memoryMB: inventory.space.memoryMB, pendingClones })
    }
    return plan
  }

  /**
   * A deployment, of a pool when `of.pool` names its record; `of.newPool`: a pool's first deployment,
   * the pool's record inserted with it (or not at all).
   */
  async create(
    request: DeploymentRequest,
    requester: string,
    of: { pool?: NewDeployment['pool']; newPool?: NewDeployment['newPool']; kind?: 'deploy' | 'reconcile' } = {},
  ): Promise<DeploymentWithClones> {
    const plan = await this.plan(request)
    try {
      return await this.repository.create({ plan, requester, ticket: request.ticket, ...of }, (sql, cloneIds) =>
        enqueueProvisioning(this.boss, cloneIds, sql),
      )
    } catch (err) {
      // Another deployment took some of these names between our check and our insert.
      if ((err as { code?: string; constraint?: string }).constraint === 'clones_live_name_idx') {
        const taken = await this.repository.namesInUse(plan.names)
        throw new NameConflict({ names: taken }, taken.join(', '))
      }
      throw err
    }
  }

  /**
   * A pool's rebuild (refresh, recompose): the same checks as a deployment's (parent, snapshot,
   * customization spec, hosts) for clones that keep the names and numbers of those they replace
   * (which are the service's own VMs, so their names are not conflicts), then the deployment, its
   * `waiting` clones and their jobs in one transaction. `request.maxConcurrent` is the rebuild's
   * maxUnavailable. No space check: each replacement frees its old VM's space before it takes its own.
   */
  async rebuild(
    input: { kind: 'refresh' | 'recompose'; pool: { id: string; name: string }; request: Omit<DeploymentRequest, 'startNumber' | 'count'>; replacing: CloneRow[] },
    requester: string,
  ): Promise<DeploymentWithClones> {
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
    try {
      return await this.repository.create({ plan, requester, pool: input.pool, kind: input.kind, replacing }, (sql, cloneIds) =>
        enqueueProvisioning(this.boss, cloneIds, sql),
      )
    } catch (err) {
      // A clone to replace changed meanwhile (another operation got there first).
      const constraint = (err as { constraint?: string }).constraint
      if (err instanceof ReplacedClonesChanged || constraint === 'clones_replaces_idx' || constraint === 'clones_live_name_idx') {
        throw new PoolBusy({ pool: input.pool.name }, input.pool.name)
      }
      throw err
    }
  }
}

/** The parent the inventory found: 404 PARENT_NOT_FOUND without one, 409 PARENT_AMBIGUOUS with several. */
function parentOf(inventory: PlanInventory, name: string): ParentFacts {
  if (inventory.ambiguousParent) throw new ParentAmbiguous({ parent: name, morefs: inventory.ambiguousParent }, name)
  if (!inventory.parent) throw new ParentNotFound({ parent: name }, name)
  return inventory.parent
}

/** The parent with the snapshot the request names (by moref or name) as the one to clone from. */
function withChosenSnapshot(parent: ParentFacts, request: Pick<DeploymentRequest, 'snapshotMoref' | 'snapshotName'>): ParentFacts {
  if (!request.snapshotMoref && request.snapshotName === undefined) return parent
  return { ...parent, currentSnapshot: chooseSnapshot(parent, { moref: request.snapshotMoref, name: request.snapshotName }) }
}
