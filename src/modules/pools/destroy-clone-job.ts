/**
 * The per-clone job of a strip back or scale down: power off and destroy the clone, only when the
 * VM found by its recorded instance UUID is the VM we recorded (never the parent, its snapshot or a VM
 * the service did not make). The clone's record is kept, marked destroyed. Safe to repeat: a clone
 * already gone from vCenter is simply marked destroyed. The job holds the clone's destroy ownership
 * lock while it runs (see ownership.ts): a second worker handed the same job steps aside.
 */
import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type { CloneStepRepository } from '../../db/repositories/clone-steps.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import { TaskFailed, VcenterUnreachable, type VcenterGateway } from '../../vcenter/gateway.js'
import type { Limits } from '../../config/config.js'
import type { CloneRow, RecordedError } from '../../db/schema.js'
import type PgBoss from 'pg-boss'
import type { SqlExecutor } from '../../jobs/boss.js'
import { cloneOperationScopes, type Limiter } from '../../jobs/operation-limiter.js'
import { withOwnership } from '../../jobs/ownership.js'
import { QUEUES, jobOwnerLockId, type DestroyCloneData } from '../../jobs/queues.js'

/** The lock owning a clone's destroy job (whichever deployment destroys it). */
export const destroyOwnerLockId = (data: Pick<DestroyCloneData, 'cloneId'>): string => jobOwnerLockId(QUEUES.destroyClone, data.cloneId)

/** One destroy job per clone, inside the caller's transaction. */
export async function enqueueDestroy(boss: PgBoss, cloneIds: string[], deploymentId: string, db: SqlExecutor): Promise<void> {
  if (cloneIds.length === 0) return
  await boss.insert(
    QUEUES.destroyClone,
    cloneIds.map((cloneId) => ({
      name: QUEUES.destroyClone,
      data: { cloneId, deploymentId } satisfies DestroyCloneData,
      singletonKey: `${cloneId}:${deploymentId}`,
    })),
    { db },
  )
}

export class CloneDestroyer {
  constructor(
    private readonly deployments: CloneStepRepository,
    private readonly pools: PoolRepository,
    private readonly vcenter: VcenterGateway,
    private readonly log: FastifyBaseLogger,
    /** Where ownership locks are held (openOwnershipPool). */
    private readonly ownership: pg.Pool,
    /** Destroying counts against the same limits as making clones, across replicas. */
    private readonly limiter: Limiter,
    private readonly limits: Limits,
  ) {}

  /** False when another worker owns the clone's destroy: nothing was done. */
  async run(cloneId: string, deploymentId: string, attempt: { attempt?: number; lastAttempt: boolean }): Promise<boolean> {
    const run = await withOwnership(this.ownership, destroyOwnerLockId({ cloneId }), () =>
      this.destroy(cloneId, deploymentId, attempt),
    )
    if (!run.owned) this.log.info({ cloneId }, 'another worker is destroying this clone; leaving it to them')
    return run.owned
  }

  private async destroy(cloneId: string, deploymentId: string, attempt: { lastAttempt: boolean }): Promise<void> {
    const clone = await this.deployments.getClone(cloneId)
    if (!clone || clone.destroyDeploymentId !== deploymentId) return
    await this.deployments.markStarted(deploymentId)
    if (clone.status === 'destroying') {
      try {
        const outcome = await this.withSlots(clone, () =>
          this.vcenter.destroyOwnedVm(clone.instanceUuid, clone.moref, (task) => this.deployments.updateClone(cloneId, { taskMoref: task })),
        )
        if (outcome === 'not-owned') {
          const error = {
            code: 'NOT_OWNED',
            message: `the VM with instance UUID ${clone.instanceUuid} is not ${clone.moref ?? 'the recorded VM'}; left untouched`,
          }
          await this.deployments.recordStep({ cloneId, step: 'destroying', outcome: 'failed', error })
          await this.deployments.updateClone(cloneId, { status: 'failed', error, taskMoref: null })
        } else {
          await this.deployments.recordStep({
            cloneId,
            step: 'destroyed',
            outcome: outcome === 'destroyed' ? 'succeeded' : 'skipped',
            detail: outcome === 'absent' ? 'no VM with this instance UUID in vCenter' : undefined,
          })
          await this.pools.markDestroyed(cloneId)
        }
      } catch (err) {
        // vCenter unreachable or a passing failure: pg-boss retries; the last attempt records it (an
        // unreachable vCenter too: else the clone and its deployment would read "running" forever).
        if (!attempt.lastAttempt) throw err
        const message = err instanceof Error ? err.message : String(err)
        const error: RecordedError =
          err instanceof TaskFailed
            ? { code: 'DESTROY_FAILED', faultType: err.faultType, message }
            : { code: 'DESTROY_FAILED', message: err instanceof VcenterUnreachable ? `gave up, vCenter unreachable: ${message}` : message }
        this.log.warn({ cloneId, err }, 'destroying a clone failed')
        await this.deployments.recordStep({ cloneId, step: 'destroying', outcome: 'failed', error })
        await this.deployments.updateClone(cloneId, { status: 'failed', error, taskMoref: null })
      }
    }
    await this.deployments.finishIfDone(deploymentId)
  }

  /** Runs the power-off and destroy holding a slot in each limit the clone counts against. */
  private async withSlots<T>(clone: CloneRow, work: () => Promise<T>): Promise<T> {
    const lease = await this.limiter.acquire(cloneOperationScopes(clone, this.limits))
    if (!lease) throw new Error('the operation limiter gave no slots')
    try {
      return await work()
    } finally {
      await lease.close()
    }
  }
}
