/**
 * The job of a parent's preparation: power the parent off, take the snapshot (no memory, no
 * quiescing), then, if asked, recompose the parent's active pools onto it. Every step is recorded on
 * the preparation. Safe to repeat: the parent's power state is read first; a snapshot task recorded
 * earlier is followed, and a snapshot of that name taken since the preparation was accepted (or
 * recorded by an earlier preparation of the same name that failed afterwards) is adopted rather than
 * taken twice; pools already recomposed are skipped. The job holds the preparation's ownership lock
 * while it runs (see ownership.ts): a second worker handed the same job steps aside.
 */
import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type PgBoss from 'pg-boss'
import type { PoolRepository } from '../../db/repositories/pools.js'
import type { ParentRepository } from '../../db/repositories/parents.js'
import type { PoolRow, PreparationRow, RecordedError } from '../../db/schema.js'
import { findPreparedSnapshot } from '../../domain/snapshots.js'
import { TaskFailed, VcenterUnreachable, type VcenterGateway } from '../../vcenter/gateway.js'
import type { SqlExecutor } from '../../jobs/boss.js'
import { withOwnership } from '../../jobs/ownership.js'
import { QUEUES, jobOwnerLockId, type PrepareParentData } from '../../jobs/queues.js'
import type { TeamMember } from '../../domain/teams.js'

export type { PrepareParentData }

export const PREPARE_PARENT_QUEUE = QUEUES.prepareParent

/** What preparing with `recompose: true` needs of pools (PoolService.recompose). */
export interface PoolRecomposer {
  recompose(
    name: string,
    request: { snapshot?: string; parent?: string; maxUnavailable?: number },
    caller: TeamMember,
    ticket?: string,
  ): Promise<{ pool: PoolRow; deploymentIds: string[] }>
}

/** The lock owning a preparation's job. */
export const prepareOwnerLockId = (data: PrepareParentData): string => jobOwnerLockId(PREPARE_PARENT_QUEUE, data.preparationId)

export async function enqueuePreparation(boss: PgBoss, preparationId: string, db: SqlExecutor): Promise<void> {
  await boss.insert(
    PREPARE_PARENT_QUEUE,
    [{ name: PREPARE_PARENT_QUEUE, data: { preparationId } satisfies PrepareParentData, singletonKey: preparationId }],
    { db },
  )
}

export class ParentPreparer {
  constructor(
    private readonly repository: ParentRepository,
    private readonly pools: PoolRepository,
    private readonly vcenter: VcenterGateway,
    private readonly recomposer: PoolRecomposer,
    private readonly log: FastifyBaseLogger,
    /** Where ownership locks are held (openOwnershipPool). */
    private readonly ownership: pg.Pool,
  ) {}

  /** False when another worker owns the preparation: nothing was done. */
  async run(preparationId: string, attempt: { lastAttempt: boolean }): Promise<boolean> {
    const run = await withOwnership(this.ownership, prepareOwnerLockId({ preparationId }), () => this.prepare(preparationId, attempt))
    if (!run.owned) this.log.info({ preparationId }, 'another worker is running this preparation; leaving it to them')
    return run.owned
  }

  private async prepare(preparationId: string, attempt: { lastAttempt: boolean }): Promise<void> {
    const preparation = await this.repository.get(preparationId)
    if (!preparation || preparation.finishedAt) return
    await this.repository.markRunning(preparationId)
    try {
      await this.powerOff(preparation)
      const snapshot = await this.snapshot(preparation)
      if (preparation.recompose) await this.recompose(preparation, snapshot, attempt.lastAttempt)
      await this.repository.finish(preparationId, 'succeeded')
    } catch (err) {
      // vCenter unreachable, or a passing failure before the last attempt: pg-boss retries. The last
      // attempt records it, an unreachable vCenter too (else the preparation would read "running" forever).
      if (!(err instanceof Refused) && !attempt.lastAttempt) throw err
      const message = err instanceof Error ? err.message : String(err)
      const error: RecordedError =
        err instanceof Refused
          ? err.error
          : err instanceof TaskFailed
            ? { code: 'VCENTER_REFUSED', message: err.message, faultType: err.faultType }
            : { code: 'PREPARATION_FAILED', message: err instanceof VcenterUnreachable ? `gave up, vCenter unreachable: ${message}` : message }
      this.log.warn({ preparationId, error }, 'parent preparation failed')
      await this.repository.finish(preparationId, 'failed', error)
    }
  }

  private async powerOff(p: PreparationRow): Promise<void> {
    if (p.steps.some((s) => s.step === 'power_off' && s.outcome !== 'failed')) return
    const parent = await this.vcenter.readParentVm(p.parentMoref)
    if (!parent) throw new Refused({ code: 'PARENT_NOT_FOUND', message: `the parent ${p.parentMoref} no longer exists in vCenter` })
    if (parent.powerState === 'poweredOff') {
      await this.repository.addStep(p.id, { step: 'power_off', outcome: 'skipped', detail: 'already powered off' })
      return
    }
    let taskMoref: string | undefined
    try {
      await this.vcenter.powerOff(p.parentMoref, async (task) => {
        taskMoref = task
      })
    } catch (err) {
      if (err instanceof TaskFailed) {
        // Powered off meanwhile (InvalidPowerState): what we wanted.
        const now = await this.vcenter.readParentVm(p.parentMoref)
        if (now?.powerState !== 'poweredOff') {
          await this.repository.addStep(p.id, { step: 'power_off', outcome: 'failed', taskMoref, error: failure(err) })
          throw new Refused(failure(err))
        }
      } else throw err
    }
    await this.repository.addStep(p.id, { step: 'power_off', outcome: 'succeeded', taskMoref })
  }

  /** The snapshot's moref: recorded, adopted, or taken now. */
  private async snapshot(p: PreparationRow): Promise<string> {
    const parent = await this.vcenter.readParentVm(p.parentMoref)
    if (!parent) throw new Refused({ code: 'PARENT_NOT_FOUND', message: `the parent ${p.parentMoref} no longer exists in vCenter` })
    const recorded = p.snapshotMoref ? parent.snapshots.find((s) => s.moref === p.snapshotMoref) : undefined
    if (recorded) return recorded.moref

    // An earlier attempt's task, or a snapshot it took whose answer was lost: adopt it.
    let adopted: string | undefined
    if (p.snapshotTaskMoref) {
      const outcome = await this.vcenter.followTask(p.snapshotTaskMoref)
      if (outcome.state === 'success' && outcome.result && parent.snapshots.some((s) => s.moref === outcome.result)) adopted = outcome.result
    }
    adopted ??= findPreparedSnapshot(parent.snapshots, p.snapshotName, p.createdAt)?.moref
    // An earlier preparation of the same name that took it, then failed (a request repeated after a failure).
    if (!adopted) {
      const ours = await this.repository.preparedSnapshots(p.parentMoref)
      adopted = parent.snapshots.find((s) => s.name === p.snapshotName && ours.has(s.moref))?.moref
    }
    if (adopted) {
      const node = (await this.vcenter.readParentVm(p.parentMoref))?.snapshots.find((s) => s.moref === adopted)
      await this.repository.recordSnapshot(p.id, adopted, node?.createdAt ? new Date(node.createdAt) : null)
      await this.repository.addStep(p.id, { step: 'snapshot', outcome: 'adopted', taskMoref: p.snapshotTaskMoref ?? undefined, detail: adopted })
      return adopted
    }

    let taskMoref: string | undefined
    let moref: string
    try {
      moref = await this.vcenter.createSnapshot(p.parentMoref, p.snapshotName, p.description ?? undefined, async (task) => {
        taskMoref = task
        await this.repository.recordSnapshotTask(p.id, task)
      })
    } catch (err) {
      if (err instanceof TaskFailed) {
        await this.repository.addStep(p.id, { step: 'snapshot', outcome: 'failed', taskMoref, error: failure(err) })
        throw new Refused(failure(err))
      }
      throw err
    }
    const node = (await this.vcenter.readParentVm(p.parentMoref))?.snapshots.find((s) => s.moref === moref)
    await this.repository.recordSnapshot(p.id, moref, node?.createdAt ? new Date(node.createdAt) : null)
    await this.repository.addStep(p.id, { step: 'snapshot', outcome: 'succeeded', taskMoref, detail: moref })
    return moref
  }

  /** Each active pool of the parent, recomposed onto the new snapshot (pools done earlier skipped). */
  private async recompose(p: PreparationRow, snapshotMoref: string, lastAttempt: boolean): Promise<void> {
    const current = (await this.repository.get(p.id))!
    const done = new Set(current.steps.filter((s) => s.step === 'recompose' && s.outcome === 'succeeded').map((s) => s.pool))
    // The preparation's team's pools only: another team's are not its to change.
    const pools = (await this.pools.list()).filter(
      (pool) => pool.status === 'active' && pool.parentName === p.parentName && pool.team === p.team && !done.has(pool.name),
    )
    const failures: string[] = []
    for (const pool of pools) {
      try {
        const change = await this.recomposer.recompose(pool.name, { snapshot: p.snapshotName, parent: p.parentName }, preparationCaller(p), p.ticket ?? undefined)
        await this.repository.addDeployments(p.id, change.deploymentIds)
        await this.repository.addStep(p.id, { step: 'recompose', outcome: 'succeeded', pool: pool.name, deploymentIds: change.deploymentIds, detail: snapshotMoref })
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'RECOMPOSE_FAILED'
        // A pool busy with another change is recomposed on a later attempt.
        if (err instanceof VcenterUnreachable || (code === 'POOL_BUSY' && !lastAttempt)) throw err
        await this.repository.addStep(p.id, {
          step: 'recompose',
          outcome: 'failed',
          pool: pool.name,
          error: { code, message: err instanceof Error ? err.message : String(err) },
        })
        failures.push(pool.name)
      }
    }
    if (failures.length) {
      throw new Refused({ code: 'RECOMPOSE_FAILED', message: `the snapshot was taken; recomposing these pools failed: ${failures.join(', ')}` })
    }
  }
}

/**
 * A preparation recomposes as its requester in its own team: another team's pool is POOL_NOT_FOUND,
 * left as it is. Its deployments carry the preparation's ticket and request id.
 */
function preparationCaller(p: PreparationRow): TeamMember {
  return { sub: p.requester, teams: [p.team], admin: false, ...(p.requestId ? { requestId: p.requestId } : {}) }
}

/** A failure not worth retrying: recorded as the preparation's error. */
class Refused extends Error {
  constructor(readonly error: RecordedError) {
    super(error.message)
  }
}

function failure(err: TaskFailed): RecordedError {
  return { code: 'VCENTER_REFUSED', message: err.message, faultType: err.faultType }
}
