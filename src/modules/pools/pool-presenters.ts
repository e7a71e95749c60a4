/** What REST shows of a pool: the pool, its detail (live clones, last deployments), and a change. */
import type { CloneRow, DeploymentRow, PoolRow } from '../../db/schema.js'
import { iso } from '../clones/clone-presenters.js'
import type { PoolChange } from './pool-service.js'

export function presentPool(p: PoolRow) {
  return {
    name: p.name,
    status: p.status,
    parent: p.parentName,
    snapshot: p.snapshotMoref ? { name: p.snapshotName, moref: p.snapshotMoref } : null,
    prefix: p.prefix,
    startNumber: p.startNumber,
    size: p.size,
    attributes: p.copiedAttributes,
    customizationAttribute: p.customizationAttribute,
    hostLimit: p.hostLimit,
    expiresAt: iso(p.expiresAt),
    requester: p.requester,
    team: p.team,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  }
}

/** A pool with its live clones and last deployments. */
export function presentPoolDetail(pool: PoolRow, clones: CloneRow[], deployments: DeploymentRow[]) {
  return {
    ...presentPool(pool),
    drift: pool.drift ?? null,
    clones: clones.map((c) => ({ name: c.name, number: c.number, status: c.status, moref: c.moref, instanceUuid: c.instanceUuid })),
    deployments: deployments.map((d) => ({
      id: d.id,
      kind: d.kind,
      status: d.status,
      count: d.count,
      createdAt: d.createdAt.toISOString(),
      finishedAt: iso(d.finishedAt),
    })),
  }
}

export function presentPoolChange(change: PoolChange) {
  return { pool: presentPool(change.pool), deploymentId: change.deploymentIds[0] ?? null, deploymentIds: change.deploymentIds }
}
