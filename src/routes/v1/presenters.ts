/**
 * Database rows to API representations. Secrets are redacted here, per caller.
 */
import type { CloneRecord } from '../../db/repositories/clones.js'
import type { DeploymentWithClones } from '../../db/repositories/deployments.js'
import type { CloneRow } from '../../db/schema.js'
import { provenanceOf } from '../../assets/provenance.js'
import { REDACTED } from '../../domain/attributes.js'
import { countByStatus, durationSeconds, isFinalCloneStatus } from '../../domain/progress.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

function cloneSummary(c: CloneRow) {
  return {
    name: c.name,
    status: c.status,
    moref: c.moref,
    instanceUuid: c.instanceUuid,
    host: c.hostMoref,
    error: c.error ?? null,
  }
}

export function presentDeployment({ deployment: d, clones }: DeploymentWithClones) {
  const statuses = clones.map((c) => c.status)
  const byStatus = countByStatus(statuses)
  return {
    id: d.id,
    status: d.status,
    parent: { name: d.parentName, moref: d.parentMoref },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref },
    prefix: d.prefix,
    startNumber: d.startNumber,
    count: d.count,
    customizationSpec: d.customizationSpec,
    attributes: d.copiedAttributes,
    requester: d.requester,
    ticket: d.ticket,
    createdAt: d.createdAt.toISOString(),
    startedAt: iso(d.startedAt),
    finishedAt: iso(d.finishedAt),
    durationSeconds: durationSeconds(d.startedAt, d.finishedAt),
    warnings: d.warnings,
    error: d.error ?? null,
    progress: {
      total: clones.length,
      done: statuses.filter(isFinalCloneStatus).length,
      failed: byStatus.failed,
      byStatus,
    },
    clones: clones.map(cloneSummary),
  }
}

export function presentClone(record: CloneRecord, canReadSecrets: boolean) {
  const { clone: c, deployment: d, attributes } = record
  return {
    ...cloneSummary(c),
    deploymentId: d.id,
    requester: d.requester,
    ticket: d.ticket,
    parent: { name: d.parentName, moref: d.parentMoref },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref },
    createdAt: c.createdAt.toISOString(),
    readyAt: iso(c.readyAt),
    // Secrets come redacted from the store unless revealed; redacting again costs nothing.
    attributes: attributes.map((a) => ({ name: a.name, value: a.secret && !canReadSecrets ? REDACTED : a.value })),
    provenance: provenanceOf(record),
  }
}
