/**
 * Drift: compares each active pool with vCenter and records what differs (src/domain/drift.ts), on a
 * pg-boss schedule (DRIFT_CHECK_MINUTES) and on demand; and repairs it (reconcile).
 *
 * One bulk read (RetrievePropertiesEx: name, runtime.powerState, runtime.host of every ready clone by
 * its recorded moref) for all the pools checked together; a moref vCenter no longer knows is looked up
 * by the clone's instance UUID (SearchIndex.FindByUuid) before the clone is called missing, and a clone
 * found under another moref is recorded there.
 *
 * Reconcile, refused while the pool changes (409 POOL_BUSY): a fresh check and the repairs' plans,
 * then, in one transaction under the pool's lock, missing clones are marked destroyed (reason recorded) and their numbers deployed again
 * (deployments of kind `reconcile`, one per contiguous run), and clones powered off or renamed are
 * powered on and renamed back by one `reconcile` deployment's job. Clones failed in the guest step
 * (GUEST_CUSTOMIZATION_FAILED / _TIMEOUT) whose VM is still there, ours by instance UUID and moref,
 * are rebuilt by one `reconcile` rebuild: each replacement destroys that VM first (its job, within the
 * limits) and takes the name and number; the failed record is kept. Clones on more hosts than the
 * pool's host limit are recorded only: moving running clones is DRS's business, not this service's.
 */
import type { FastifyBaseLogger } from 'fastify'
import type PgBoss from 'pg-boss'
import type { JobTransaction } from '../../db/job-transaction.js'
import type { CloneRepository } from '../../db/repositories/clones.js'
import type { DeploymentRepository } from '../../db/repositories/deployments.js'
import type { DriftClone, DriftRepository } from '../../db/repositories/drift.js'
import type { PoolRepository } from '../../db/repositories/pools.js'
import type { CloneRow, PoolRow } from '../../db/schema.js'
import { classifyDrift, isEmptyRepair, repairPlan, type ObservedVm, type PoolDrift, type RepairPlan } from '../../domain/drift.js'
import type { DeploymentPlan } from '../../domain/plan.js'
import { contiguousRuns, nextFreeNumbers } from '../../domain/pool.js'
import { PoolBusy, PoolNotFound } from '../../errors.js'
import { enqueueReconcile, type RepairAction } from './reconcile-pool-job.js'
import type { VcenterGateway } from '../../vcenter/gateway.js'
import { forClient } from '../../vcenter/client-errors.js'
import type { DeploymentService, RebuildInput } from '../deployments/deployment-service.js'
import { poolDeploymentRequest, requestFields } from './pool-requests.js'
import { visibleTeams, type TeamFilter, type TeamMember } from '../../domain/teams.js'

const MISSING = {
  code: 'MISSING',
  message: 'gone from vCenter (neither its moref nor its instance UUID found); deployed again by a reconcile',
}

export interface ReconcileOutcome {
  pool: string
  drift: PoolDrift
  repairs: RepairPlan
  /** The reconcile deployments started: powering on and renaming back first, then each redeploy. */
  deploymentIds: string[]
}

export class PoolReconciler {
  constructor(
    private readonly pools: PoolRepository,
    private readonly clones: CloneRepository,
    private readonly drift: DriftRepository,
    private readonly deploymentRepository: DeploymentRepository,
    private readonly deployments: DeploymentService,
    private readonly vcenter: VcenterGateway,
    private readonly boss: PgBoss,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Checks one pool of the caller's teams now and records the findings (another team's: POOL_NOT_FOUND, vCenter not asked). */
  async check(name: string, caller: TeamMember): Promise<PoolDrift> {
    const pool = await this.activePool(name, visibleTeams(caller))
    return (await this.checkPools([pool])).get(name)!.drift
  }

  /** The scheduled check: every active pool, in one bulk read. */
  async checkAll(): Promise<Map<string, PoolDrift>> {
    const found = new Map([...(await this.checkPools(await this.drift.activePools()))].map(([name, c]) => [name, c.drift]))
    const drifting = [...found].filter(([, d]) => d.status === 'found').map(([name]) => name)
    if (drifting.length) this.log.info({ pools: drifting }, 'pools drift from vCenter')
    return found
  }

  /**
   * A fresh check and the repairs' plans first (vCenter's calls, no lock held), then one short
   * transaction under the pool's lock that checks the pool is idle and unchanged and records every
   * repair with its jobs.
   */
  async reconcile(name: string, caller: TeamMember, ticket?: string): Promise<ReconcileOutcome> {
    const teams = visibleTeams(caller)
    const requester = caller.sub
    // Another team's pool: POOL_NOT_FOUND before vCenter is asked or anything recorded.
    const pool = await this.activePool(name, teams)
    await this.checkIdle(pool)
    const live = await this.clones.liveOfPool(pool.id)
    const checked = (await this.checkPools([pool])).get(name)!
    const drift = checked.drift
    const repairs = repairPlan(drift)
    const guestFailed = checked.guestFailed.filter((c) => repairs.rebuild.includes(c.number))
    const outcome: ReconcileOutcome = { pool: name, drift, repairs, deploymentIds: [] }
    if (isEmptyRepair(repairs)) return outcome

    const clones = await this.drift.readyClones([pool.id])
    const byName = new Map(clones.map((c) => [c.name, c]))
    // Missing clones are deployed again under their names (released by the same transaction).
    const recreate: { ids: string[]; plan: DeploymentPlan }[] = []
    for (const run of contiguousRuns(repairs.recreate)) {
      const numbers = new Set(Array.from({ length: run.count }, (_, i) => run.startNumber + i))
      const missing = clones.filter((c) => numbers.has(c.number))
      const plan = await this.deployments.plan(poolDeploymentRequest(pool, run.startNumber, run.count), { releasing: missing.map((c) => c.name) })
      recreate.push({ ids: missing.map((c) => c.id), plan })
    }
    const actions: RepairAction[] = [
      ...repairs.powerOn.map((n) => ({ cloneId: byName.get(n)!.id, action: 'power_on' as const })),
      ...repairs.rename.map((n) => ({ cloneId: byName.get(n)!.id, action: 'rename' as const })),
    ]
    const first = actions.length ? byName.get(repairs.powerOn[0] ?? repairs.rename[0]!)! : undefined
    const source = first ? (await this.deploymentRepository.getDeployment(first.deploymentId))! : undefined
    // Clones failed in the guest step, their VMs still there: rebuilt under their names and numbers.
    const rebuild = guestFailed.length ? this.rebuildInput(pool, guestFailed) : undefined
    const rebuildPlan = rebuild ? await this.deployments.planRebuild(rebuild) : undefined
    // Short of its size: the next free numbers, as a scale up would add them (the missing ones are taken again).
    const adds: DeploymentPlan[] = []
    if (repairs.add > 0) {
      const taken = [...live.map((c) => c.number), ...repairs.rebuild]
      for (const run of contiguousRuns(nextFreeNumbers(taken, pool.startNumber, repairs.add))) {
        adds.push(await this.deployments.plan(poolDeploymentRequest(pool, run.startNumber, run.count)))
      }
    }

    const names = [...recreate.flatMap((r) => r.plan.names), ...adds.flatMap((p) => p.names)]
    const result = await this.deployments.refusingTakenNames(names, () =>
      this.pools.withPoolLock(name, async (tx) => {
        const now = await this.activePool(name, teams, tx)
        await this.checkIdle(now, tx)
        const ids = (rows: { id: string }[]) => rows.map((c) => c.id).join(',')
        if (
          now.updatedAt.getTime() !== pool.updatedAt.getTime() ||
          ids(await this.clones.liveOfPool(now.id, tx)) !== ids(live) ||
          // Another reconcile rebuilt them meanwhile: each clone is rebuilt once.
          (rebuild && !(await this.stillGuestFailed(now.id, rebuild.replacing, tx)))
        ) {
          throw new PoolBusy({ pool: name, reason: 'changed meanwhile' }, name)
        }
        const redeploys: string[] = []
        for (const { ids: missing, plan } of recreate) {
          await this.drift.markMissing(missing, MISSING, tx)
          redeploys.push((await this.deployments.record(plan, { requester, team: now.team, pool: { id: now.id, name: now.name, team: now.team }, kind: 'reconcile' }, tx)).deployment.id)
        }
        if (actions.length && source) {
          const repaired = new Set(actions.map((a) => a.cloneId))
          const deployment = await this.drift.createReconcile(
            { pool: { id: now.id, name: now.name, team: now.team }, requester, source, count: repaired.size },
            (sql, id) => enqueueReconcile(this.boss, id, actions, sql),
            tx,
          )
          outcome.deploymentIds.push(deployment.id)
        }
        outcome.deploymentIds.push(...redeploys)
        if (rebuild && rebuildPlan) {
          outcome.deploymentIds.push((await this.deployments.recordRebuild(rebuild, rebuildPlan, requester, tx)).deployment.id)
        }
        for (const plan of adds) {
          outcome.deploymentIds.push((await this.deployments.record(plan, { requester, team: now.team, pool: { id: now.id, name: now.name, team: now.team }, kind: 'reconcile' }, tx)).deployment.id)
        }
        // The ticket and the request id on every repair, as the pool's other changes record them.
        await this.pools.tagDeployments(outcome.deploymentIds, { ticket, requestId: caller.requestId }, tx)
        return outcome
      }),
    )
    if (!result) throw new PoolBusy({ pool: name }, name)
    return result.value
  }

  /** A reconcile's rebuild of clones failed in the guest step: from the pool's parent and snapshot. */
  private rebuildInput(pool: PoolRow, replacing: CloneRow[]): RebuildInput {
    return {
      kind: 'reconcile',
      pool: { id: pool.id, name: pool.name, team: pool.team },
      replacing,
      request: { ...requestFields(pool), parent: pool.parentName, ...(pool.snapshotMoref ? { snapshotMoref: pool.snapshotMoref } : {}) },
    }
  }

  /** Whether every clone to rebuild is still failed in the guest step and not rebuilt, in `tx`. */
  private async stillGuestFailed(poolId: string, replacing: CloneRow[], tx: JobTransaction): Promise<boolean> {
    const now = new Set((await this.drift.guestFailedClones([poolId], tx)).map((c) => c.id))
    return replacing.every((c) => now.has(c.id))
  }

  private async checkIdle(pool: PoolRow, tx?: JobTransaction): Promise<void> {
    const running = await this.pools.unfinishedDeployment(pool.id, tx)
    if (running) throw new PoolBusy({ pool: pool.name, deploymentId: running.id }, pool.name)
  }

  /** Each (active) pool's drift, and its clones failed in the guest step whose VM is still there, by name. */
  private async checkPools(pools: PoolRow[]): Promise<Map<string, { drift: PoolDrift; guestFailed: CloneRow[] }>> {
    const clones = await this.drift.readyClones(pools.map((p) => p.id))
    const checkedAt = new Date()
    const observed = await forClient(this.observe(clones))
    const guestFailed = await forClient(this.guestFailedWithVm(pools))
    const out = new Map<string, { drift: PoolDrift; guestFailed: CloneRow[] }>()
    for (const pool of pools) {
      const failed = guestFailed.filter((c) => c.poolId === pool.id)
      const live = (await this.clones.liveOfPool(pool.id)).length
      const drift = classifyDrift(
        clones.filter((c) => c.poolId === pool.id),
        observed,
        pool.hostLimit,
        checkedAt,
        { desired: pool.size, live },
        failed,
      )
      await this.drift.saveDrift(pool.id, drift)
      out.set(pool.name, { drift, guestFailed: failed })
    }
    return out
  }

  /**
   * The pools' clones failed in the guest step whose VM is still in vCenter and is the one recorded:
   * its instance UUID leads to its recorded moref. A VM gone (nothing to destroy) leaves the number
   * to the pool's fill-up; a VM of that name that is not ours is never touched (the fill-up's name
   * check says NAME_CONFLICT).
   */
  private async guestFailedWithVm(pools: PoolRow[]): Promise<(CloneRow & { poolId: string })[]> {
    const out: (CloneRow & { poolId: string })[] = []
    for (const clone of await this.drift.guestFailedClones(pools.map((p) => p.id))) {
      if ((await this.vcenter.findByInstanceUuid(clone.instanceUuid)) === clone.moref) out.push(clone)
    }
    return out
  }

  /** What vCenter holds for each clone, by its recorded moref; absent: missing (confirmed by instance UUID). */
  private async observe(clones: DriftClone[]): Promise<Map<string, ObservedVm>> {
    const seen = await this.vcenter.readVmStates(clones.map((c) => c.moref))
    const moved: { clone: DriftClone; moref: string }[] = []
    for (const clone of clones.filter((c) => !seen.has(c.moref))) {
      const found = await this.vcenter.findByInstanceUuid(clone.instanceUuid)
      if (found && found !== clone.moref) moved.push({ clone, moref: found })
    }
    if (moved.length) {
      const again = await this.vcenter.readVmStates(moved.map((m) => m.moref))
      for (const { clone, moref } of moved) {
        const vm = again.get(moref)
        if (!vm) continue
        this.log.info({ clone: clone.name, from: clone.moref, to: moref }, 'clone found under another moref by its instance UUID')
        await this.drift.updateMoref(clone.id, moref)
        seen.set(clone.moref, vm)
      }
    }
    return seen
  }

  private async activePool(name: string, teams: TeamFilter, tx?: JobTransaction): Promise<PoolRow> {
    const pool = await this.pools.get(name, tx, teams)
    if (!pool || pool.status !== 'active') throw new PoolNotFound({ pool: name }, name)
    return pool
  }
}
