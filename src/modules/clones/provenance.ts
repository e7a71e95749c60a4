/**
 * A clone's provenance, as one chain: the ticket it was asked for under, the deployment and who
 * requested it, the parent and the snapshot it was made from, and its own identity in vCenter. Built
 * from records that are never deleted, so it outlives the VM (vanishedAt says when the sync found it
 * gone).
 */
import type { CloneRecord, LinkedClone } from '../../db/repositories/clones.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function provenanceOf({ clone: c, deployment: d, vanishedAt, lineage }: CloneRecord) {
  return {
    ...(lineage ? { replaces: linked(lineage.replaces), replacedBy: linked(lineage.replacedBy) } : {}),
    ticket: d.ticket,
    deployment: { id: d.id, requester: d.requester, requestedAt: d.createdAt.toISOString() },
    parent: { name: d.parentName, moref: d.parentMoref, instanceUuid: d.parentInstanceUuid },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref, createdAt: iso(d.snapshotCreatedAt) },
    vm: { name: c.name, moref: c.moref, instanceUuid: c.instanceUuid, vanishedAt: iso(vanishedAt) },
  }
}

/**
 * A refresh's or recompose's link between two records of one name and number: the clone, the
 * deployment that made it, and the parent and snapshot it came from.
 */
function linked(link: LinkedClone | undefined) {
  if (!link) return null
  const { clone: c, deployment: d } = link
  return {
    cloneId: c.id,
    status: c.status,
    vm: { name: c.name, moref: c.moref, instanceUuid: c.instanceUuid },
    deployment: { id: d.id, kind: d.kind },
    parent: { name: d.parentName, moref: d.parentMoref },
    snapshot: { name: d.snapshotName, moref: d.snapshotMoref, createdAt: iso(d.snapshotCreatedAt) },
    destroyedAt: iso(c.destroyedAt),
  }
}
