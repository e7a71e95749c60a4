/**
 * What a pool asks of its deployments, and the checks of a pool's fields: pure functions of the pool's
 * record and the request (no I/O), shared by the pool service and the reconciler.
 */
import type { PoolRow } from '../../db/schema.js'
import type { DeploymentRequest } from '../../domain/plan.js'
import { MAX_POOL_SIZE } from '../../domain/pool.js'
import { ValidationFailed } from '../../errors.js'

/** What a pool's deployments are made from. */
export type PoolSettings = Pick<PoolRow, 'parentName' | 'prefix' | 'copiedAttributes' | 'customizationAttribute' | 'hostLimit' | 'snapshotMoref'>

/** A deployment of these numbers of the pool: from its parent and its recorded snapshot. */
export function poolDeploymentRequest(pool: PoolSettings, startNumber: number, count: number): DeploymentRequest {
  return {
    ...requestFields(pool),
    parent: pool.parentName,
    startNumber,
    count,
    ...(pool.snapshotMoref ? { snapshotMoref: pool.snapshotMoref } : {}),
  }
}

/** What every deployment of the pool asks for, as the pool records it. */
export function requestFields(pool: PoolSettings) {
  return {
    prefix: pool.prefix,
    ...(pool.copiedAttributes ? { attributes: pool.copiedAttributes } : {}),
    ...(pool.customizationAttribute ? { customizationAttribute: pool.customizationAttribute } : {}),
    ...(pool.hostLimit ? { hostLimit: pool.hostLimit } : {}),
  }
}

export function checkSize(size: number, min: number): void {
  if (!Number.isInteger(size) || size < min || size > MAX_POOL_SIZE) {
    throw new ValidationFailed({ field: 'size', minimum: min, maximum: MAX_POOL_SIZE }, `"size" must be an integer from ${min} to ${MAX_POOL_SIZE}`)
  }
}

export function parseExpiry(value: string | undefined, now = new Date()): Date | undefined {
  if (value === undefined) return undefined
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw new ValidationFailed({ field: 'expiresAt' }, '"expiresAt" is not a date-time')
  if (at.getTime() <= now.getTime()) throw new ValidationFailed({ field: 'expiresAt' }, '"expiresAt" is in the past')
  return at
}
