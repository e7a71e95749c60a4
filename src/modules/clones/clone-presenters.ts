/** What REST and GraphQL show of a clone: the summary a deployment lists, and the whole record; secrets are redacted here, per caller. */
import type { CloneRecord } from '../../db/repositories/clones.js'
import type { CloneRow } from '../../db/schema.js'
import { REDACTED } from '../../domain/attributes.js'
import { provenanceOf } from './provenance.js'

/** A time as ISO 8601, or null. */
export const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** A clone as a deployment lists it. */
export function cloneSummary(c: CloneRow) {
  return {
    name: c.name,
    status: c.status,
    moref: c.moref,
    instanceUuid: c.instanceUuid,
    host: c.hostMoref,
    reportedHost: c.reportedHostMoref,
    linked: c.linked ?? null,
    guest: c.guest ?? null,
    error: c.error ?? null,
  }
}

export function presentClone(record: CloneRecord, canReadSecrets: boolean) {
  const { clone: c, deployment: d, attributes } = record
  return {
    ...cloneSummary(c),
    deploymentId: d.id,
    requester: d.requester,
    team: c.team,
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
