/** What REST and GraphQL show of a deployment: its progress and estimate, or a dry run's plan. */
import type { DeploymentWithClones } from '../../db/repositories/deployments.js'
import type { CloneRow, DeploymentRow } from '../../db/schema.js'
import { countByStatus, durationSeconds, isFinalCloneStatus, type CloneStatus } from '../../domain/progress.js'
import { effectiveConcurrency, estimateDuration, secondsLeft, type LimitsInForce } from '../../domain/estimate.js'
import type { DeploymentPlan } from '../../domain/plan.js'
import { cloneSummary, iso } from '../clones/clone-presenters.js'
import { DEPLOYMENT_CLONES_SHOWN, cloneCursorKey } from '../../domain/clone-order.js'
import { encodeCursor } from '../../http/pagination.js'

/** What estimates need: the service's limits and the typical time of one clone. */
export interface EstimateBasis {
  limits: LimitsInForce
  secondsPerClone: number
  /** The guest step after power-on (ESTIMATED_GUEST_SECONDS); guests customize in parallel. */
  guestSeconds?: number
}

export function presentDeployment(read: DeploymentWithClones, basis: EstimateBasis) {
  const { deployment: d, clones: all, replaced = [] } = read
  const old = new Map(replaced.map((c) => [c.id, c]))
  // A rebuild's clone waiting while the clone it replaces is destroyed counts at that step.
  const stepOf = (c: CloneRow): CloneStatus => {
    const gone = c.replacesCloneId ? old.get(c.replacesCloneId) : undefined
    return c.status === 'waiting' && gone?.status === 'destroying' ? 'destroying' : c.status
  }
  // Counted in SQL when read (DeploymentService.get), else over the clones at hand (a deployment just made).
  const counts = read.progress ?? { byStep: countRows(all.map(stepOf)), hosts: new Set(all.map((c) => c.hostMoref)).size }
  const byStatus = countByStatus([])
  for (const { status, n } of counts.byStep) byStatus[status] += n
  const total = counts.byStep.reduce((sum, c) => sum + c.n, 0)
  const done = counts.byStep.filter((c) => isFinalCloneStatus(c.status)).reduce((sum, c) => sum + c.n, 0)
  const clones = all.slice(0, DEPLOYMENT_CLONES_SHOWN)
  const clonesNextCursor =
    read.clonesNextCursor !== undefined
      ? read.clonesNextCursor
      : all.length > DEPLOYMENT_CLONES_SHOWN
        ? encodeCursor(cloneCursorKey(clones.at(-1)!))
        : null
  const hostCount = counts.hosts
  const concurrency = effectiveConcurrency({ ...basis.limits, perDeployment: d.maxConcurrent }, hostCount)
  const elapsed = durationSeconds(d.startedAt, d.finishedAt)
  return {
    id: d.id,
    kind: d.kind,
    pool: d.poolName,
    status: d.status,
    parent: { name: d.parentName, moref: d.parentMoref },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref, createdAt: iso(d.snapshotCreatedAt) },
    prefix: d.prefix,
    startNumber: d.startNumber,
    count: d.count,
    hostLimit: d.hostLimit,
    maxConcurrent: d.maxConcurrent,
    customizationSpec: d.customizationSpec,
    attributes: d.copiedAttributes,
    requester: d.requester,
    team: d.team,
    ticket: d.ticket,
    requestId: d.requestId,
    createdAt: d.createdAt.toISOString(),
    startedAt: iso(d.startedAt),
    finishedAt: iso(d.finishedAt),
    durationSeconds: elapsed,
    warnings: d.warnings,
    error: d.error ?? null,
    progress: {
      total,
      done,
      failed: byStatus.failed,
      byStatus,
      estimatedSecondsLeft: secondsLeft(done, total, elapsed, estimateDuration(total, concurrency, basis.secondsPerClone, basis.guestSeconds)),
    },
    clonesNextCursor,
    clones: clones.map((c) => {
      const gone = c.replacesCloneId ? old.get(c.replacesCloneId) : undefined
      if (!gone) return cloneSummary(c)
      const replaces = { name: gone.name, status: gone.status, moref: gone.moref, instanceUuid: gone.instanceUuid, deploymentId: gone.deploymentId }
      return { ...cloneSummary(c), step: stepOf(c), replaces }
    }),
  }
}

/** A deployment in a list: what presentDeployment shows but its clones, with their counts by status. */
export function presentDeploymentSummary(d: DeploymentRow, counts: { status: CloneStatus; n: number }[]) {
  const byStatus = countByStatus([])
  for (const { status, n } of counts) byStatus[status] += n
  const total = counts.reduce((sum, c) => sum + c.n, 0)
  const done = counts.filter((c) => isFinalCloneStatus(c.status)).reduce((sum, c) => sum + c.n, 0)
  return {
    id: d.id,
    kind: d.kind,
    pool: d.poolName,
    status: d.status,
    parent: { name: d.parentName, moref: d.parentMoref },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref },
    prefix: d.prefix,
    startNumber: d.startNumber,
    count: d.count,
    requester: d.requester,
    team: d.team,
    ticket: d.ticket,
    requestId: d.requestId,
    createdAt: d.createdAt.toISOString(),
    startedAt: iso(d.startedAt),
    finishedAt: iso(d.finishedAt),
    durationSeconds: durationSeconds(d.startedAt, d.finishedAt),
    error: d.error ?? null,
    progress: { total, done, failed: byStatus.failed, byStatus },
  }
}

export function presentPlan(plan: DeploymentPlan, basis: EstimateBasis) {
  const concurrency = effectiveConcurrency({ ...basis.limits, perDeployment: plan.maxConcurrent }, plan.hosts.length)
  const perHost = new Map<string, number>()
  for (const host of plan.placement) perHost.set(host, (perHost.get(host) ?? 0) + 1)
  return {
    dryRun: true as const,
    parent: { name: plan.parent.name, moref: plan.parent.moref },
    snapshot: { name: plan.snapshot.name, moref: plan.snapshot.moref, createdAt: plan.snapshot.createdAt ?? null },
    prefix: plan.prefix,
    startNumber: plan.startNumber,
    startNumberChosen: plan.startNumberChosen ?? false,
    customizationSpec: plan.customizationSpec,
    attributes: plan.copiedAttributes,
    clones: plan.names.map((name, i) => ({ name, host: plan.placement[i]! })),
    hosts: plan.hosts.map((h) => ({ moref: h.moref, name: h.name, clones: perHost.get(h.moref) ?? 0 })),
    hostLimit: plan.hostLimit,
    // A plan exists only when every check passed; refusals answer with their error instead.
    checks: [
      { check: 'parent exists', passed: true, detail: `${plan.parent.name} (${plan.parent.moref})` },
      { check: 'current snapshot', passed: true, detail: `${plan.snapshot.name} (${plan.snapshot.moref})` },
      { check: 'customization spec exists', passed: true, detail: plan.customizationSpec },
      { check: 'names are free', passed: true, detail: `${plan.names[0]}..${plan.names.at(-1)}` },
      { check: 'hosts within the host limit', passed: true, detail: `${plan.hosts.length} of at most ${plan.hostLimit}` },
    ],
    warnings: plan.warnings,
    estimate: {
      ...estimateDuration(plan.names.length, concurrency, basis.secondsPerClone, basis.guestSeconds),
      secondsPerClone: basis.secondsPerClone,
      guestSeconds: basis.guestSeconds ?? 0,
    },
  }
}

function countRows(statuses: CloneStatus[]): { status: CloneStatus; n: number }[] {
  return Object.entries(countByStatus(statuses)).map(([status, n]) => ({ status: status as CloneStatus, n }))
}
