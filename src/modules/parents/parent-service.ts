/**
 * Parents: preparation (power off, take the snapshot the clones will use, optionally recompose the
 * parent's pools onto it) and the protection of snapshots that live clones use. Every check is made
 * at request time with read-only calls, so a refusal changes nothing in vCenter; the preparation
 * itself runs as a pg-boss job (prepare-parent-job.ts).
 *
 * Snapshot removal and revert are single short vCenter tasks, awaited here through the task watcher
 * under the parent's lock, held exclusively on a connection apart from the requests' pool
 * (ParentRepository.withParentExclusive): the caller learns the outcome in the answer, the check and
 * the operation cannot be overtaken by a preparation or a deployment of the same parent (which take
 * the lock shared while they are recorded, and are refused with 409 PARENT_BUSY meanwhile), and
 * repeating the request is harmless (a removed snapshot answers 404; reverting twice ends in the
 * same state).
 */
import type PgBoss from 'pg-boss'
import type { CloneRepository } from '../../db/repositories/clones.js'
import type { ParentRepository } from '../../db/repositories/parents.js'
import type { CloneRow, PreparationRow } from '../../db/schema.js'
import {
  ParentAmbiguous,
  ParentBusy,
  ParentInUse,
  ParentNotFound,
  PreparationNotFound,
  SnapshotAmbiguous,
  SnapshotInUse,
  SnapshotNameTaken,
  SnapshotNotFound,
  ValidationFailed,
} from '../../errors.js'
import {
  MAX_SNAPSHOT_DESCRIPTION_LENGTH,
  defaultSnapshotName,
  invalidSnapshotNameReason,
  parentUse,
  resolveSnapshot,
  withDescendants,
  type SnapshotNode,
} from '../../domain/snapshots.js'
import { findInvalidXmlChar } from '../../domain/xml-text.js'
import { enqueuePreparation } from './prepare-parent-job.js'
import { type ParentVm, type VcenterGateway } from '../../vcenter/gateway.js'
import { forClient } from '../../vcenter/client-errors.js'
import type { ParentFacts } from '../../domain/plan.js'
import { canSee, owningTeam, visibleTeams, type TeamFilter, type TeamMember } from '../../domain/teams.js'

/** The records this service hands out (for REST and GraphQL). */
export type { PreparationRow } from '../../db/schema.js'
export type { ParentVm } from '../../vcenter/gateway.js'

export interface PrepareRequest {
  /** The team that owns the preparation, when the caller is in several (domain/teams.ts). */
  team?: string
  /** Default "<parent> YYYY-MM-DD" (UTC). */
  snapshotName?: string
  description?: string
  /** Recompose the parent's pools onto the new snapshot instead of refusing while their clones run. */
  recompose?: boolean
  /** External reference recorded on the preparation, e.g. RITM0012345. */
  ticket?: string
}

export interface PrepareOutcome {
  preparation: PreparationRow
  /** False when an identical earlier request's preparation is returned (repeat-safe). */
  created: boolean
}

/** A snapshot of the tree with how many live clones were made from it, and their pools. */
export interface SnapshotUsage extends SnapshotNode {
  liveClones: number
  pools: string[]
}

export type SnapshotAction = 'remove' | 'revert'

export class ParentService {
  constructor(
    private readonly repository: ParentRepository,
    private readonly clones: CloneRepository,
    private readonly vcenter: VcenterGateway,
    private readonly boss: PgBoss,
  ) {}

  /** The VMs that can serve as parents, each with whether the spec its attribute names exists. */
  async listParents(customizationAttribute: string): Promise<{ parent: ParentFacts; customizationSpecExists: boolean }[]> {
    return forClient(this.vcenter.listParents(customizationAttribute))
  }

  /** The clones the service made from each of these parents (by moref), by name: GraphQL's Parent.clones in one read. */
  clonesOfParents(morefs: readonly string[], teams: TeamFilter): Promise<Map<string, CloneRow[]>> {
    return this.clones.byParentMorefs(morefs, teams)
  }

  async prepare(name: string, request: PrepareRequest, caller: TeamMember, now = new Date()): Promise<PrepareOutcome> {
    const team = owningTeam(caller, request.team)
    const requester = caller.sub
    if (request.snapshotName !== undefined) {
      const reason = invalidSnapshotNameReason(request.snapshotName)
      if (reason) throw new ValidationFailed({ field: 'snapshotName' }, `"snapshotName" ${reason}`)
    }
    if (request.description !== undefined) {
      if (request.description.length > MAX_SNAPSHOT_DESCRIPTION_LENGTH || findInvalidXmlChar(request.description) >= 0) {
        throw new ValidationFailed({ field: 'description' }, `"description" must be at most ${MAX_SNAPSHOT_DESCRIPTION_LENGTH} characters, without control characters`)
      }
    }
    const parent = await this.resolve(name)
    const snapshotName = request.snapshotName ?? defaultSnapshotName(name, now)
    await this.checkOtherTeams(name, caller)

    // Every check needing vCenter first, with no lock held: which running clones use the parent.
    const ours = await this.repository.preparedSnapshots(parent.moref)
    // Clones already made from this preparation's own snapshot (an earlier, failed attempt) are not older.
    const target = parent.snapshots.find((s) => s.name === snapshotName && ours.has(s.moref))?.moref
    const repeated = await this.repository.latestFor(parent.moref, snapshotName, team)
    const answered =
      (repeated && !repeated.finishedAt) || (repeated?.status === 'succeeded' && parent.snapshots.some((s) => s.moref === repeated.snapshotMoref))
    if (!answered) await this.checkInUse(name, parent, request.recompose === true, caller, target)

    // Then one short transaction holding the parent's lock shared (refused while a snapshot is removed
    // or reverted to), which checks the records again and records the preparation and its job.
    const outcome = await this.repository.withParentShared(parent.moref, async (tx): Promise<PrepareOutcome> => {
      // The same request again: its preparation, unfinished or done (and its snapshot still there).
      const earlier = await this.repository.latestFor(parent.moref, snapshotName, team, tx)
      if (earlier && !earlier.finishedAt) return { preparation: earlier, created: false }
      if (earlier?.status === 'succeeded' && parent.snapshots.some((s) => s.moref === earlier.snapshotMoref)) {
        return { preparation: earlier, created: false }
      }
      const running = await this.repository.unfinished(parent.moref, tx)
      if (running) throw busyWith(name, running, caller)

      const ours = await this.repository.preparedSnapshots(parent.moref, tx)
      const taken = parent.snapshots.find((s) => s.name === snapshotName && !ours.has(s.moref))
      if (taken) throw new SnapshotNameTaken({ parent: name, snapshot: snapshotName, moref: taken.moref }, name, snapshotName)

      const created = await this.repository.createPreparation(
        {
          parentName: name,
          parentMoref: parent.moref,
          parentInstanceUuid: parent.instanceUuid ?? null,
          snapshotName,
          description: request.description ?? null,
          recompose: request.recompose === true,
          requester,
          team,
          ticket: request.ticket ?? null,
          requestId: caller.requestId ?? null,
        },
        (sql, id) => enqueuePreparation(this.boss, id, sql),
        tx,
      )
      // Another preparation of the parent was recorded meanwhile (the unique index refused this one).
      if (!created) throw new ParentBusy({ parent: name }, name, 'another preparation')
      return { preparation: created, created: true }
    })
    if (!outcome) throw new ParentBusy({ parent: name }, name, 'a snapshot of it is being removed or reverted to')
    return outcome.value
  }

  /** One of the caller's teams' preparations; outside PARENT_FOLDERS, 404 PARENT_NOT_FOUND. */
  async preparation(name: string, id: string, caller: TeamMember): Promise<PreparationRow> {
    const row = /^[0-9a-f-]{36}$/i.test(id) ? await this.repository.get(id, visibleTeams(caller)) : undefined
    if (!row || row.parentName !== name) throw new PreparationNotFound({ parent: name, id }, id, name)
    if (!(await forClient(() => this.vcenter.mayBeParent(row.parentMoref)))) throw new ParentNotFound({ parent: name }, name)
    return row
  }

  /** The parent's preparations of the caller's teams. */
  async preparations(name: string, caller: TeamMember): Promise<PreparationRow[]> {
    const parent = await this.resolve(name)
    return this.repository.list(parent.moref, visibleTeams(caller))
  }

  /** The parent's snapshot tree, each snapshot with the live clones made from it. */
  async snapshots(name: string, caller: TeamMember): Promise<{ parent: ParentVm; snapshots: SnapshotUsage[] }> {
    const parent = await this.resolve(name)
    const clones = await this.clones.liveOfParent(parent.moref)
    const teams = visibleTeams(caller)
    return {
      parent,
      // Every team's clones count; only the caller's teams' pools are named.
      snapshots: parent.snapshots.map((s) => {
        const using = clones.filter((c) => c.snapshotMoref === s.moref)
        return { ...s, liveClones: using.length, pools: poolNames(using.filter((c) => canSee(teams, c.team))) }
      }),
    }
  }

  /**
   * Removes a snapshot, or reverts the parent to it, unless live clones were made from it
   * (409 SNAPSHOT_IN_USE: deleting it would break them).
   */
  async snapshotAction(
    name: string,
    ref: string,
    action: SnapshotAction,
    caller: TeamMember,
  ): Promise<{ parent: ParentVm; snapshot: SnapshotNode; taskMoref?: string }> {
    const parent = await this.resolve(name)
    const resolved = resolveSnapshot(parent.snapshots, ref)
    if ('missing' in resolved) throw new SnapshotNotFound({ parent: name, snapshot: ref }, name, `"${ref}"`)
    if ('ambiguous' in resolved) {
      throw new SnapshotAmbiguous({ parent: name, snapshot: ref, morefs: resolved.ambiguous.map((s) => s.moref) }, name, ref)
    }
    const snapshot = resolved.found
    // Another team's pool refuses at once (checked again under the lock, for pools accepted meanwhile).
    await this.checkOtherTeams(name, caller)
    // The parent's lock, exclusively, on a connection of its own for the vCenter task's length:
    // deployments and preparations of the parent are refused meanwhile (409 PARENT_BUSY), and this
    // waits for no one. The checks below run once it is held, so they see everything accepted before.
    const outcome = await this.repository.withParentExclusive(parent.moref, async () => {
      const running = await this.repository.unfinished(parent.moref)
      if (running) throw busyWith(name, running, caller)
      await this.checkOtherTeams(name, caller)
      // Removing a snapshot merges its disk into its parent's: clones of the snapshots taken after it on
      // its branch depend on it too. Reverting changes no snapshot: only its own clones count.
      const protectedMorefs = action === 'remove' ? withDescendants(parent.snapshots, snapshot.moref) : new Set([snapshot.moref])
      const using = (await this.clones.liveOfParent(parent.moref)).filter((c) => protectedMorefs.has(c.snapshotMoref))
      if (using.length > 0) {
        // Counted across teams, named only for the caller's teams.
        const seen = using.filter((c) => canSee(visibleTeams(caller), c.team))
        const pools = poolNames(seen)
        throw new SnapshotInUse(
          {
            parent: name,
            snapshot: snapshot.name,
            moref: snapshot.moref,
            liveClones: using.length,
            pools,
            clones: seen.map((c) => c.name),
            usedSnapshots: [...new Set(using.map((c) => c.snapshotMoref))],
          },
          snapshot.name,
          String(using.length),
          pools.join(', ') || 'none',
        )
      }
      let taskMoref: string | undefined
      const onTask = async (task: string) => {
        taskMoref = task
      }
      await forClient(() =>
        action === 'remove' ? this.vcenter.removeSnapshot(snapshot.moref, onTask) : this.vcenter.revertToSnapshot(snapshot.moref, onTask),
      )
      return { parent: (await forClient(() => this.vcenter.readParentVm(parent.moref))) ?? parent, snapshot, taskMoref }
    })
    if (!outcome) throw new ParentBusy({ parent: name }, name, 'another snapshot operation, or work being accepted')
    return outcome.value
  }

  /**
   * 409 PARENT_IN_USE while a live pool of a team the caller is not in is made from the parent: a
   * destructive operation (prepare, snapshot remove or revert) would break or change another team's
   * clones. Admin too (its own teams count as its). The other teams' pools are counted, not named.
   */
  private async checkOtherTeams(name: string, caller: TeamMember): Promise<void> {
    const pools = await this.repository.otherTeamsPools(name, caller.teams)
    if (pools === 0) return
    const reason = `${pools} live pool${pools === 1 ? '' : 's'} of other teams`
    throw new ParentInUse({ parent: name, otherTeamsPools: pools, reason: `${reason} use this parent` }, name, reason)
  }

  /** The one VM with this name: 404 PARENT_NOT_FOUND, 409 PARENT_AMBIGUOUS. */
  private async resolve(name: string): Promise<ParentVm> {
    const vms = await forClient(() => this.vcenter.findVmsByName(name))
    if (vms.length === 0) throw new ParentNotFound({ parent: name }, name)
    if (vms.length > 1) throw new ParentAmbiguous({ parent: name, morefs: vms.map((v) => v.moref) }, name)
    return vms[0]!
  }

  /**
   * 409 PARENT_IN_USE while clones made from an older snapshot run (powered on, or still being made),
   * unless `recompose`; even then, running clones of no pool refuse it (recompose cannot move them).
   */
  private async checkInUse(name: string, parent: ParentVm, recompose: boolean, caller: TeamMember, targetSnapshotMoref?: string): Promise<void> {
    const clones = await this.clones.liveOfParent(parent.moref)
    if (clones.length === 0) return
    const states = await forClient(() => this.vcenter.readVmStates(clones.flatMap((c) => (c.moref ? [c.moref] : []))))
    const use = parentUse(
      clones.map((c) => ({ ...c, powerState: c.moref ? states.get(c.moref)?.powerState : undefined })),
      targetSnapshotMoref,
    )
    if (use.running.length === 0) return
    if (recompose && use.unpooled === 0) return
    // Counted across teams, named only for the caller's teams.
    const teams = new Map(clones.map((c) => [c.name, c.team]))
    const seen = use.running.filter((c) => canSee(visibleTeams(caller), teams.get(c.name) ?? ''))
    const pools = poolNames(seen)
    throw new ParentInUse(
      {
        parent: name,
        pools,
        runningClones: use.running.length,
        unpooled: use.unpooled,
        clones: seen.map((c) => c.name),
        ...(recompose ? { reason: 'running clones of no pool cannot be recomposed' } : {}),
      },
      name,
      pools.join(', ') || 'none',
    )
  }
}

/** 409 PARENT_BUSY with a preparation under way, naming it only to a caller who may see it. */
function busyWith(name: string, running: PreparationRow, caller: TeamMember): InstanceType<typeof ParentBusy> {
  return canSee(visibleTeams(caller), running.team)
    ? new ParentBusy({ parent: name, preparationId: running.id }, name, `preparation ${running.id}`)
    : new ParentBusy({ parent: name }, name, "another team's preparation")
}

const poolNames = (clones: { pool: string | null }[]): string[] => [...new Set(clones.flatMap((c) => (c.pool ? [c.pool] : [])))].sort()
