/**
 * Accepting a deployment: check everything with read-only calls, then record it and its jobs in one
 * transaction. A refused request changes nothing in vCenter or in the database.
 */
import type PgBoss from 'pg-boss'
import type { DeploymentRepository, DeploymentWithClones } from '../db/repositories/deployments.js'
import { NameConflict, ParentNotFound, VcenterUnavailable } from '../errors.js'
import { buildPlan, normalizeRequest, type DeploymentPlan, type DeploymentRequest } from '../domain/plan.js'
import { checkDatastoreSpace } from '../domain/space.js'
import { enqueueProvisioning } from '../jobs/queue.js'
import { VcenterUnreachable, type VcenterGateway } from '../vcenter/gateway.js'

export class DeploymentService {
  constructor(
    private readonly repository: DeploymentRepository,
    private readonly vcenter: VcenterGateway,
    private readonly boss: PgBoss,
  ) {}

  /** Every check, with read-only calls: the plan a deployment would follow, or the refusal. */
  async plan(request: DeploymentRequest): Promise<DeploymentPlan> {
    const normalized = normalizeRequest(request)
    const inventory = await this.vcenter
      .readPlanInventory(normalized.parent, normalized.customizationAttribute, normalized.names)
      .catch((err: unknown) => {
        if (err instanceof VcenterUnreachable) throw new VcenterUnavailable({ reason: err.message }, err.message)
        throw err
      })
    if (!inventory.parent) throw new ParentNotFound({ parent: normalized.parent }, normalized.parent)
    const [ownNames, parentClonesByHost] = await Promise.all([
      this.repository.namesInUse(normalized.names),
      this.repository.parentClonesByHost(inventory.parent.moref),
    ])
    const plan = buildPlan(normalized, {
      parent: inventory.parent,
      customizationSpecExists: inventory.customizationSpecExists,
      takenNames: [...inventory.existingNames, ...ownNames],
      hosts: inventory.hosts,
      parentClonesByHost,
    })
    await this.checkSpace(plan)
    return plan
  }

  async create(request: DeploymentRequest, requester: string, poolName?: string, kind?: 'deploy' | 'reconcile'): Promise<DeploymentWithClones> {
    const plan = await this.plan(request)
    try {
      return await this.repository.create({ plan, requester, ticket: request.ticket, poolName, kind }, (sql, cloneIds) =>
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
   * 422 INSUFFICIENT_SPACE when the clones would not fit in the free space of the parent's datastore
   * (src/domain/space.ts says how much they need). Read-only, after every other check.
   */
  private async checkSpace(plan: DeploymentPlan): Promise<void> {
    const space = await this.vcenter.readDatastoreSpace(plan.parent.moref).catch((err: unknown) => {
      if (err instanceof VcenterUnreachable) throw new VcenterUnavailable({ reason: err.message }, err.message)
      throw err
    })
    if (space) checkDatastoreSpace(space.datastore, { count: plan.count, memoryMB: space.memoryMB })
  }
}
