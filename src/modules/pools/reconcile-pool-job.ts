/**
 * The job of a pool's reconcile deployment: power on the clones found powered off and rename back the
 * clones found renamed, each recorded as a step of the clone with its vCenter task. Safe to repeat:
 * every clone's state is read first, and a clone already on (or already named right) is skipped.
 * Missing clones are not repaired here: they are deployed again as deployments of their own
 * (pool-reconciler.ts). The job holds its deployment's ownership lock while it runs (see
 * ownership.ts): a second worker handed the same job steps aside.
 */
import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import type { CloneStepRepository } from '../../db/repositories/clone-steps.js'
import type { DriftRepository } from '../../db/repositories/drift.js'
import { TaskFailed, VcenterUnreachable, type VcenterGateway } from '../../vcenter/gateway.js'
import type { SqlExecutor } from '../../jobs/boss.js'
import { withOwnership } from '../../jobs/ownership.js'
import { QUEUES, jobOwnerLockId, type ReconcilePoolData, type RepairAction } from '../../jobs/queues.js'

export type { ReconcilePoolData, RepairAction }

export const RECONCILE_POOL_QUEUE = QUEUES.reconcilePool

/** The lock owning a reconcile deployment's job. */
export const reconcileOwnerLockId = (data: Pick<ReconcilePoolData, 'deploymentId'>): string =>
  jobOwnerLockId(RECONCILE_POOL_QUEUE, data.deploymentId)

export async function enqueueReconcile(boss: PgBoss, deploymentId: string, actions: RepairAction[], db: SqlExecutor): Promise<void> {
  await boss.insert(
    RECONCILE_POOL_QUEUE,
    [{ name: RECONCILE_POOL_QUEUE, data: { deploymentId, actions } satisfies ReconcilePoolData, singletonKey: deploymentId }],
    { db },
  )
}

export class PoolRepairer {
  constructor(
    private readonly deployments: CloneStepRepository,
    private readonly drift: DriftRepository,
    private readonly vcenter: VcenterGateway,
    private readonly log: FastifyBaseLogger,
    /** Where ownership locks are held (openOwnershipPool). */
    private readonly ownership: pg.Pool,
  ) {}

  /** False when another worker owns the deployment's reconcile: nothing was done. */
  async run(data: ReconcilePoolData, attempt: { lastAttempt: boolean }): Promise<boolean> {
    const run = await withOwnership(this.ownership, reconcileOwnerLockId(data), () => this.reconcile(data, attempt))
    if (!run.owned) this.log.info({ deploymentId: data.deploymentId }, 'another worker is running this reconcile; leaving it to them')
    return run.owned
  }

  private async reconcile(data: ReconcilePoolData, attempt: { lastAttempt: boolean }): Promise<void> {
    const deployment = await this.deployments.getDeployment(data.deploymentId)
    if (!deployment || deployment.finishedAt) return
    await this.deployments.markStarted(data.deploymentId)
    const failed: string[] = []
    try {
      for (const action of data.actions) {
        if (!(await this.repair(action, data.deploymentId))) failed.push(action.cloneId)
      }
    } catch (err) {
      // Retried by pg-boss; the last attempt records the failure, an unreachable vCenter's too (else
      // the deployment would read "running" forever).
      if (!attempt.lastAttempt) throw err
      this.log.warn({ deploymentId: data.deploymentId, err }, 'reconcile failed')
      const message = err instanceof Error ? err.message : String(err)
      await this.drift.finishDeployment(data.deploymentId, 'failed', {
        code: 'RECONCILE_FAILED',
        message: err instanceof VcenterUnreachable ? `gave up, vCenter unreachable: ${message}` : message,
      })
      return
    }
    await this.drift.finishDeployment(
      data.deploymentId,
      failed.length ? 'failed' : 'succeeded',
      failed.length ? { code: 'REPAIRS_FAILED', message: `${failed.length} of ${data.actions.length} repairs failed; see each clone's steps` } : undefined,
    )
  }

  /** False when the repair failed (recorded on the clone). */
  private async repair({ cloneId, action }: RepairAction, deploymentId: string): Promise<boolean> {
    const clone = await this.deployments.getClone(cloneId)
    if (!clone || clone.status !== 'ready' || !clone.moref) return true // destroyed meanwhile: nothing to repair
    const step = action === 'power_on' ? 'powering_on' : 'ready'
    const state = await this.vcenter.readVmState(clone.moref)
    if (!state) {
      const error = { code: 'MISSING', message: `no VM ${clone.moref} in vCenter; the next reconcile deploys it again` }
      await this.deployments.recordStep({ cloneId, step, outcome: 'failed', error, detail: `reconcile ${deploymentId}` })
      return false
    }
    const done = action === 'power_on' ? state.powerState === 'poweredOn' : state.name === clone.name
    if (done) {
      await this.deployments.recordStep({ cloneId, step, outcome: 'skipped', detail: `reconcile ${deploymentId}: already ${action === 'power_on' ? 'on' : 'named so'}` })
      return true
    }
    let taskMoref: string | undefined
    const onTask = async (task: string) => {
      taskMoref = task
    }
    try {
      if (action === 'power_on') await this.vcenter.powerOn(clone.moref, onTask)
      else await this.vcenter.rename(clone.moref, clone.name, onTask)
    } catch (err) {
      if (!(err instanceof TaskFailed)) throw err
      const error = { code: 'VCENTER_REFUSED', message: err.message, faultType: err.faultType }
      await this.deployments.recordStep({ cloneId, step, outcome: 'failed', taskMoref, error, detail: `reconcile ${deploymentId}` })
      return false
    }
    const detail = action === 'power_on' ? `reconcile ${deploymentId}: powered on` : `reconcile ${deploymentId}: renamed back from "${state.name}"`
    await this.deployments.recordStep({ cloneId, step, outcome: 'succeeded', taskMoref, detail })
    return true
  }
}
