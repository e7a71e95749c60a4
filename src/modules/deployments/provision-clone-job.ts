/**
 * One clone's provisioning, as the seed's script does it: CloneVM_Task from the parent's snapshot as
 * a linked clone, CustomizeVM_Task, PowerOnVM_Task, then the custom attributes. Each step is recorded
 * as it happens (with its vCenter task), and a resumed job settles what an earlier attempt did by
 * asking vCenter before doing anything again: the clone is looked up by the instance UUID chosen
 * before cloning, and a powered-on or already-customized VM is not customized twice.
 */
import type { FastifyBaseLogger } from 'fastify'
import type PgBoss from 'pg-boss'
import type { Limits } from '../../config/config.js'
import type { CloneStepRepository } from '../../db/repositories/clone-steps.js'
import type { CloneRow, DeploymentRow, RecordedError } from '../../db/schema.js'
import { linkedVerdict, silentFullCloneWarning } from '../../domain/linked.js'
import { DEFAULT_CUSTOMIZATION_TIMEOUT_MINUTES, guestFailure, remainingWaitMs } from '../../domain/guest.js'
import { CLONE_STEPS, isFinalCloneStatus, type CloneStatus } from '../../domain/progress.js'
import { TaskFailed, VcenterUnreachable, type VcenterGateway, type VmState } from '../../vcenter/gateway.js'
import type { SqlExecutor } from '../../jobs/boss.js'
import { notify } from '../../db/repositories/locks.js'
import { cloneOperationScopes, type Limiter, type Ownership } from '../../jobs/operation-limiter.js'
import { JOBS_QUEUED, QUEUES, type ProvisionCloneData } from '../../jobs/queues.js'

/** Above the largest deployment's clone count. */
const MAX_PRIORITY = 10_000

/** Jobs per INSERT when a deployment's jobs are enqueued. */
export const ENQUEUE_BATCH = 250

/**
 * One job per clone. Priorities interleave deployments: every deployment's first clone comes before
 * any deployment's second one, so that many deployments at once share the limits and none starves
 * behind a large one queued earlier.
 */
export async function enqueueProvisioning(boss: PgBoss, cloneIds: string[], db?: SqlExecutor): Promise<void> {
  if (cloneIds.length === 0) return
  // In batches (one INSERT each, all in the caller's transaction): one statement for 2,000 jobs would
  // build its whole JSON and parameters at once.
  for (let start = 0; start < cloneIds.length; start += ENQUEUE_BATCH) {
    await boss.insert(
      QUEUES.provisionClone,
      cloneIds.slice(start, start + ENQUEUE_BATCH).map((cloneId, offset) => ({
        name: QUEUES.provisionClone,
        data: { cloneId } satisfies ProvisionCloneData,
        singletonKey: cloneId,
        priority: MAX_PRIORITY - (start + offset),
      })),
      db ? { db } : {},
    )
  }
  // Inside the caller's transaction when it has one: workers are woken once the jobs are committed.
  await notify(db ?? boss.getDb(), JOBS_QUEUED)
}

/** How long a job waits for an unreachable vCenter before handing itself back to the queue. */
const MAX_PAUSE_MS = 30 * 60_000

export interface Attempt {
  /** 0 for the first attempt of the job. */
  attempt: number
  /** True when pg-boss will not retry this job again. */
  lastAttempt: boolean
}

/** A failure that is final for this clone. */
class CloneFailed extends Error {
  constructor(readonly recorded: RecordedError) {
    super(recorded.message)
  }
}

const stepIndex = (status: CloneStatus) => CLONE_STEPS.indexOf(status as (typeof CLONE_STEPS)[number])

export class CloneProvisioner {
  constructor(
    private readonly repository: CloneStepRepository,
    private readonly vcenter: VcenterGateway,
    private readonly log: FastifyBaseLogger,
    private readonly limiter: Limiter,
    private readonly limits: Limits,
    /** Aborted at shutdown: pauses end, and the job is handed back to the queue. */
    private readonly signal?: AbortSignal,
    /** How long a clone waits for its guest's customization unless its deployment says. */
    private readonly customizationTimeoutMinutes = DEFAULT_CUSTOMIZATION_TIMEOUT_MINUTES,
  ) {}

  async run(cloneId: string, attempt: Attempt): Promise<void> {
    // Ownership before anything that may wait (reads through a busy pool, a slot): a job whose lock is
    // free looks dead to the reaper. The lock is held until the job's last write, then given back.
    const ownership = await this.limiter.own(cloneId)
    if (!ownership) {
      this.log.info({ cloneId }, 'another worker owns this clone; leaving it to them')
      return
    }
    try {
      await this.runOwned(cloneId, attempt, ownership)
    } finally {
      await ownership.close()
    }
  }

  private async runOwned(cloneId: string, attempt: Attempt, lease: Ownership): Promise<void> {
    const clone = await this.repository.getClone(cloneId)
    if (!clone || isFinalCloneStatus(clone.status)) return
    const deployment = await this.repository.getDeployment(clone.deploymentId)
    if (!deployment) return

    const log = this.log.child({ deploymentId: deployment.id, clone: clone.name })
    await lease.take(cloneOperationScopes(clone, this.limits, deployment), this.signal)
    try {
      // Re-read: while this job waited for a slot, an earlier attempt's worker may have finished it.
      const current = await this.repository.getClone(cloneId)
      if (!current || isFinalCloneStatus(current.status)) return
      await this.repository.markStarted(deployment.id)
      // A replacement keeps its slots until it is ready: the slot of a rebuild's deployment counts the
      // clones unavailable at once (maxUnavailable), from the old VM's destruction to the new one's attributes.
      // A reconcile's replacement of a clone failed in the guest step makes nothing unavailable: it frees them as a deployment does.
      const operationsDone = current.replacesCloneId && deployment.kind !== 'reconcile' ? async () => {} : () => lease.release()
      await this.provisionThroughOutages(current, deployment, attempt, operationsDone, log)
      log.info('clone ready')
    } catch (err) {
      const failure = this.classify(err, attempt)
      if (!failure) {
        log.warn({ err: String(err), attempt: attempt.attempt }, 'clone attempt failed; it will be retried')
        throw err
      }
      log.warn({ code: failure.code, faultType: failure.faultType }, failure.message)
      const latest = (await this.repository.getClone(cloneId)) ?? clone
      await this.repository.recordStep({ cloneId, step: currentStep(latest), outcome: 'failed', error: failure })
      await this.repository.failClone(cloneId, failure)
      if (latest.replacesCloneId) await this.repository.failReplaced(latest.replacesCloneId, deployment.id, failure)
      if (latest.moref && failure.code !== 'CLONE_VANISHED') await this.removeFailedVm(latest, log)
    } finally {
      await lease.release()
    }
    // Where vCenter placed the clones is recorded before the deployment says it is over, so that a
    // finished deployment shows it (the last clones' workers may both record it: the same values).
    if (await this.repository.allClonesSettled(deployment.id)) await this.recordReportedHosts(deployment.id)
    const finished = await this.repository.finishIfDone(deployment.id)
    if (finished) this.log.info({ deploymentId: deployment.id, status: finished.status }, 'deployment finished')
  }

  /**
   * While vCenter cannot be reached the work pauses (the worker waits for vCenter to answer again)
   * rather than spending its retries; then it resumes, asking vCenter what was done.
   */
  private async provisionThroughOutages(
    clone: CloneRow,
    deployment: DeploymentRow,
    attempt: Attempt,
    operationsDone: () => Promise<void>,
    log: FastifyBaseLogger,
  ): Promise<void> {
    let resumed = attempt.attempt > 0 || (clone.status !== 'pending' && clone.status !== 'waiting')
    const pausedSince = Date.now()
    for (;;) {
      const current = resumed ? ((await this.repository.getClone(clone.id)) ?? clone) : clone
      try {
        return await this.provision(current, deployment, resumed, operationsDone)
      } catch (err) {
        if (!(err instanceof VcenterUnreachable) || Date.now() - pausedSince > MAX_PAUSE_MS || this.signal?.aborted) throw err
        log.warn({ err: err.message }, 'vCenter unreachable: pausing until it answers')
        await this.vcenter.waitUntilReachable(this.signal)
        if (this.signal?.aborted) throw err
        log.info('vCenter answers again: resuming')
        resumed = true
      }
    }
  }

  /**
   * Where vCenter put the clones, read in one call once the deployment is done: DRS may have moved
   * them from the host we chose (and the simulator ignores our choice). Best effort.
   */
  private async recordReportedHosts(deploymentId: string): Promise<void> {
    try {
      const morefs = await this.repository.cloneMorefs(deploymentId)
      await this.repository.recordReportedHosts(await this.vcenter.readHosts(morefs))
    } catch (err) {
      this.log.warn({ deploymentId, err: String(err) }, 'could not read where the clones run')
    }
  }

  /**
   * The VM a failed clone made (a fault after cloning) would keep the clone's name, so a later
   * deployment or reconcile of that number would be refused (NAME_CONFLICT): it is destroyed, only
   * when the VM found by the clone's instance UUID is its recorded moref. Best effort: the failure
   * is recorded already, and a VM left (vCenter unreachable) is reported by the name check.
   */
  private async removeFailedVm(clone: CloneRow, log: FastifyBaseLogger): Promise<void> {
    try {
      const outcome = await this.vcenter.destroyOwnedVm(clone.instanceUuid, clone.moref, async () => {})
      if (outcome === 'not-owned') return
      // Its VM is gone: a reconcile has nothing left of it to rebuild.
      await this.repository.updateClone(clone.id, { destroyedAt: new Date() })
      await this.repository.recordStep({
        cloneId: clone.id,
        step: 'destroyed',
        outcome: outcome === 'destroyed' ? 'succeeded' : 'skipped',
        detail: 'the failed clone\'s VM, so that its name is free again',
      })
    } catch (err) {
      log.warn({ err: String(err) }, 'could not destroy the failed clone\'s VM')
    }
  }

  /** Final failures are recorded on the clone; passing ones are thrown for pg-boss to retry. */
  private classify(err: unknown, attempt: Attempt): RecordedError | undefined {
    if (err instanceof CloneFailed) return err.recorded
    if (err instanceof TaskFailed) return { code: 'VCENTER_FAULT', faultType: err.faultType, message: err.message }
    if (!attempt.lastAttempt) return undefined
    if (err instanceof VcenterUnreachable) return { code: 'VCENTER_UNAVAILABLE', message: `gave up after ${attempt.attempt + 1} attempts: ${err.message}` }
    return { code: 'INTERNAL_ERROR', message: `gave up after ${attempt.attempt + 1} attempts: ${String(err)}` }
  }

  /**
   * `operationsDone` gives the slots back once the clone's vCenter tasks are over: the attribute
   * writes that follow are light calls, not operations in vCenter's cost model, and the next clone
   * can start meanwhile.
   */
  private async provision(
    clone: CloneRow,
    deployment: DeploymentRow,
    resumed: boolean,
    operationsDone: () => Promise<void>,
  ): Promise<void> {
    if (clone.status === 'waiting') {
      await this.replaceStep(clone, deployment)
      clone = { ...clone, status: 'pending' }
    }
    const moref = clone.moref ?? (await this.cloneStep(clone, deployment, resumed))
    if (clone.linked === null || clone.linked === undefined) await this.checkLinked(clone, deployment, moref)
    // A fresh run knows the VM's state (it just made it); a resumed one asks vCenter.
    let state: VmState | undefined
    if (resumed) {
      state = await this.vcenter.readVmState(moref)
      if (!state) {
        throw new CloneFailed({ code: 'CLONE_VANISHED', message: `The VM ${moref} made for ${clone.name} no longer exists in vCenter` })
      }
    }
    let status: CloneStatus = clone.moref ? clone.status : 'customizing'

    if (stepIndex(status) <= stepIndex('customizing')) {
      status = 'powering_on'
      if (state && (state.powerState === 'poweredOn' || state.pendingCustomization)) {
        await this.skipped(clone.id, 'customizing', 'already customized', status)
      } else {
        await this.taskStep(clone.id, 'customizing', (onTask) => this.vcenter.customize(moref, deployment.customizationSpec, onTask), status)
      }
    }

    let guestWaitSince = clone.guestWaitSince
    if (stepIndex(status) <= stepIndex('powering_on')) {
      status = 'guest_customizing'
      if (state?.powerState === 'poweredOn') {
        await this.skipped(clone.id, 'powering_on', 'already powered on', status)
      } else {
        // Recorded before power-on: the guest's events are read from then (after a restart too).
        guestWaitSince ??= new Date()
        await this.repository.updateClone(clone.id, { guestWaitSince })
        await this.taskStep(clone.id, 'powering_on', (onTask) => this.vcenter.powerOn(moref, onTask), status)
      }
    }
    // The guest's customization is no vCenter operation: its wait holds no slot.
    await operationsDone()

    if (stepIndex(status) <= stepIndex('guest_customizing')) {
      status = 'setting_attributes'
      await this.guestStep(clone, deployment, moref, guestWaitSince, status)
    }

    // The parent's values as the deployment recorded them (secrets sealed at rest, opened here).
    const values = this.repository.attributeValuesOf(deployment)
    // A clone made just now holds no values (vCenter does not copy them from the parent).
    await this.vcenter.setAttributes(moref, values, state?.attributes ?? new Map())
    await this.repository.saveAttributes(clone.id, deployment.id, values)
    await this.repository.recordStep({
      cloneId: clone.id,
      step: 'setting_attributes',
      outcome: 'succeeded',
      detail: `${values.length} attributes`,
    })
    await this.repository.settleClone(clone.id, { status: 'ready', readyAt: new Date(), error: null })
  }

  /**
   * Waits for the guest's customization to end (its events, through the session's one collector),
   * records its outcome and the guest's host name and IPs; a failed or timed-out customization fails
   * the clone. A resumed job waits only for what is left of the limit, from the recorded power-on.
   */
  private async guestStep(clone: CloneRow, deployment: DeploymentRow, moref: string, since: Date | null, next: CloneStatus): Promise<void> {
    const timeoutMinutes = deployment.customizationTimeoutMinutes ?? this.customizationTimeoutMinutes
    // Powered on before the wait was recorded (an older record): its events are looked for over the whole limit.
    const from = since ?? new Date(Date.now() - timeoutMinutes * 60_000)
    const customization = await this.vcenter.waitForGuestCustomization(moref, from, remainingWaitMs(from, timeoutMinutes), this.signal)
    const identity = await this.vcenter.readGuestIdentity(moref)
    await this.repository.updateClone(clone.id, { guest: { customization, ...identity } })
    if (customization.outcome !== 'succeeded') {
      if (this.signal?.aborted) throw new Error('stopping: the guest wait resumes on the next attempt')
      throw new CloneFailed(guestFailure(clone.name, customization, timeoutMinutes))
    }
    await this.repository.recordStep(
      { cloneId: clone.id, step: 'guest_customizing', outcome: 'succeeded', detail: `${customization.eventType}; ${identity.hostName ?? 'no host name'} ${identity.ipAddresses.join(' ')}`.trim() },
      { status: next },
    )
  }

  /**
   * Proves the clone is linked: each disk's backing chain must reach a file of the deployment's
   * snapshot. A full copy (vCenter makes one silently) is recorded `linked: false` and warned of on the
   * deployment, and the clone goes on (it works, it only takes more space); a clone backing onto
   * another snapshot than planned fails.
   */
  private async checkLinked(clone: CloneRow, deployment: DeploymentRow, moref: string): Promise<void> {
    const { disks, snapshotFiles } = await this.vcenter.readDiskChains(moref, deployment.snapshotMoref)
    const verdict = linkedVerdict(disks, snapshotFiles)
    if (verdict.kind === 'other-snapshot') {
      await this.repository.updateClone(clone.id, { linked: true })
      throw new CloneFailed({
        code: 'CLONE_NOT_FROM_SNAPSHOT',
        message: `${clone.name}'s ${verdict.disk} backs onto ${verdict.chain.slice(1).join(' <- ')}, not onto the snapshot ${deployment.snapshotName} (${deployment.snapshotMoref}: ${verdict.expected.join(', ')})`,
      })
    }
    const linked = verdict.kind === 'linked'
    await this.repository.updateClone(clone.id, { linked })
    if (!linked) {
      this.log.warn({ deploymentId: deployment.id, clone: clone.name, disks: verdict.disks }, 'silent full clone')
      await this.repository.addDeploymentWarning(deployment.id, silentFullCloneWarning(clone.name))
    }
  }

  /**
   * A rebuild's replacement first destroys the clone it replaces, only when the VM found by that
   * clone's recorded instance UUID is its recorded moref (never the parent or a VM the service did not
   * make). Safe to repeat: a VM already gone is found absent, and the replaced record is marked
   * destroyed in the same transaction that gives its name to the replacement.
   */
  private async replaceStep(clone: CloneRow, deployment: DeploymentRow): Promise<void> {
    const old = clone.replacesCloneId ? await this.repository.getClone(clone.replacesCloneId) : undefined
    // A reconcile rebuilds a clone failed in the guest step: its VM, still there, is destroyed first.
    const failedWithVm = old?.status === 'failed' && old.destroyDeploymentId === deployment.id && !!old.moref && !old.destroyedAt
    if (old && failedWithVm) {
      await this.destroyReplaced(old, clone, deployment)
      return
    }
    if (!old || old.status === 'destroyed' || old.status === 'failed') {
      // Nothing of it left to destroy (an earlier attempt did, or it failed on its own).
      if (old) await this.repository.completeReplacement(old, clone, deployment.id, 'was already gone')
      else await this.repository.updateClone(clone.id, { status: 'pending' })
      return
    }
    if (old.destroyDeploymentId !== deployment.id) {
      throw new CloneFailed({ code: 'NOT_REPLACEABLE', message: `the clone ${old.name} is not claimed by this deployment` })
    }
    if (old.status !== 'destroying') await this.repository.updateClone(old.id, { status: 'destroying' })
    const outcome = await this.vcenter.destroyOwnedVm(old.instanceUuid, old.moref, (task) =>
      this.repository.updateClone(old.id, { taskMoref: task }),
    )
    if (outcome === 'not-owned') {
      throw new CloneFailed({
        code: 'NOT_OWNED',
        message: `the VM with instance UUID ${old.instanceUuid} is not ${old.moref ?? 'the recorded VM'}; left untouched, and ${clone.name} not rebuilt`,
      })
    }
    await this.repository.completeReplacement(
      old,
      clone,
      deployment.id,
      outcome === 'destroyed' ? 'destroyed' : 'was absent from vCenter (no VM with its instance UUID)',
    )
  }

  /**
   * The VM of a replaced clone that failed in the guest step, powered off if on and destroyed, only
   * when its recorded instance UUID leads to its recorded moref. Its record stays `failed` with its
   * error, marked destroyed (destroyedAt) and replaced (this clone's replacesCloneId).
   */
  private async destroyReplaced(old: CloneRow, clone: CloneRow, deployment: DeploymentRow): Promise<void> {
    const outcome = await this.vcenter.destroyOwnedVm(old.instanceUuid, old.moref, (task) => this.repository.updateClone(old.id, { taskMoref: task }))
    if (outcome === 'not-owned') {
      throw new CloneFailed({
        code: 'NOT_OWNED',
        message: `the VM with instance UUID ${old.instanceUuid} is not ${old.moref}; left untouched, and ${clone.name} not rebuilt`,
      })
    }
    await this.repository.updateClone(old.id, { destroyedAt: new Date(), taskMoref: null })
    await this.repository.completeReplacement(
      old,
      clone,
      deployment.id,
      `${outcome === 'destroyed' ? 'destroyed' : 'was absent from vCenter (no VM with its instance UUID)'} (it had failed: ${old.error?.code ?? 'failed'})`,
    )
  }

  /** Makes the linked clone, or finds the one an earlier attempt made. Returns its moref. */
  private async cloneStep(clone: CloneRow, deployment: DeploymentRow, resumed: boolean): Promise<string> {
    if (resumed) {
      const settled = await this.settleEarlierAttempt(clone)
      if (settled) return settled
    }
    await this.repository.updateClone(clone.id, { status: 'cloning' })
    let taskMoref: string | null = null
    let moref: string
    try {
      moref = await this.vcenter.cloneFromSnapshot(
        {
          parentMoref: deployment.parentMoref,
          snapshotMoref: deployment.snapshotMoref,
          folderMoref: deployment.folderMoref,
          resourcePoolMoref: deployment.resourcePoolMoref,
          hostMoref: clone.hostMoref,
          name: clone.name,
          instanceUuid: clone.instanceUuid,
        },
        async (task) => {
          taskMoref = task
          await this.repository.updateClone(clone.id, { taskMoref: task })
        },
      )
    } catch (err) {
      if (!(err instanceof TaskFailed) || err.faultType !== 'DuplicateName') throw err
      // The name exists: ours (an earlier attempt whose answer was lost) or someone else's.
      const existing = await this.vcenter.findByInstanceUuid(clone.instanceUuid)
      if (!existing) {
        throw new CloneFailed({
          code: 'NAME_CONFLICT',
          faultType: 'DuplicateName',
          message: `A VM named "${clone.name}" already exists in vCenter and was not made by this deployment`,
        })
      }
      await this.adopt(clone, existing, 'DuplicateName: the VM with this name is ours (same instance UUID)')
      return existing
    }
    await this.repository.recordStep({ cloneId: clone.id, step: 'cloning', outcome: 'succeeded', taskMoref }, { status: 'customizing', moref })
    return moref
  }

  /**
   * An earlier attempt may have cloned already. Its outcome is settled by asking vCenter, never by
   * cloning again blindly: first the task it recorded (waiting for it if still running), then the
   * VM by the instance UUID chosen before cloning. Returns the clone's moref when it exists.
   */
  private async settleEarlierAttempt(clone: CloneRow): Promise<string | undefined> {
    if (clone.taskMoref && clone.status === 'cloning') {
      const outcome = await this.vcenter.followTask(clone.taskMoref)
      if (outcome.state === 'success' && outcome.result) {
        await this.adopt(clone, outcome.result, `the earlier attempt's task ${clone.taskMoref} made it`)
        return outcome.result
      }
    }
    const existing = await this.vcenter.findByInstanceUuid(clone.instanceUuid)
    if (existing) {
      await this.adopt(clone, existing, 'found the clone an earlier attempt made, by its instance UUID')
      return existing
    }
    return undefined
  }

  private async adopt(clone: CloneRow, moref: string, detail: string): Promise<void> {
    await this.repository.recordStep({ cloneId: clone.id, step: 'cloning', outcome: 'succeeded', detail }, { status: 'customizing', moref })
  }

  /**
   * One vCenter task of a clone: its task recorded (with the step's status) as soon as vCenter returns
   * it, then the step recorded and the clone moved on to `next`, in one statement.
   */
  private async taskStep(
    cloneId: string,
    step: CloneStatus,
    run: (onTask: (taskMoref: string) => Promise<void>) => Promise<void>,
    next: CloneStatus,
  ): Promise<void> {
    let taskMoref: string | null = null
    await run(async (task) => {
      taskMoref = task
      await this.repository.updateClone(cloneId, { status: step, taskMoref: task })
    })
    await this.repository.recordStep({ cloneId, step, outcome: 'succeeded', taskMoref }, { status: next })
  }

  private skipped(cloneId: string, step: CloneStatus, detail: string, next: CloneStatus): Promise<void> {
    return this.repository.recordStep({ cloneId, step, outcome: 'skipped', detail }, { status: next })
  }
}

function currentStep(clone: CloneRow): CloneStatus {
  if (clone.status === 'waiting') return 'destroying'
  return clone.status === 'pending' ? 'cloning' : clone.status
}
