/**
 * Quotas per team (issue 13): live clones and provisioned GB. Pure arithmetic: would a request exceed
 * the team's quota? The repository reads the quota and the usage under the team's lock, in the
 * transaction that records the deployment, and asks checkQuota before inserting anything.
 */
import { QuotaExceeded } from '../errors.js'
import { CLONE_DELTA_ESTIMATE_GB, roundGB } from './space.js'

/** A team's limits; null is no limit. */
export interface Quota {
  maxClones: number | null
  maxProvisionedGB: number | null
}

/** What a team holds, or what a request adds. */
export interface QuotaUsage {
  clones: number
  provisionedGB: number
}

export type QuotaUnit = 'clones' | 'GB'

export interface QuotaExcess {
  limit: number
  used: number
  requested: number
  unit: QuotaUnit
}

export const NO_QUOTA: Quota = { maxClones: null, maxProvisionedGB: null }

/**
 * What one linked clone counts against the provisioned-GB quota: the space the deployment plan's
 * check sets aside for it (domain/space.ts requiredSpaceGB): its linked delta estimate plus, since
 * the service powers it on, a swap file of its parent's memory. Not the parent's shared disks, which
 * exist once whatever the number of clones. Without the parent's memory: the delta alone.
 */
export function provisionedGBPerClone(memoryMB?: number, deltaGB = CLONE_DELTA_ESTIMATE_GB): number {
  return roundGB(deltaGB + (memoryMB ?? 0) / 1024)
}

/** The first limit the request would pass (clones before GB), or undefined when it fits. */
export function quotaExcess(quota: Quota, used: QuotaUsage, requested: QuotaUsage): QuotaExcess | undefined {
  if (quota.maxClones !== null && used.clones + requested.clones > quota.maxClones) {
    return { limit: quota.maxClones, used: used.clones, requested: requested.clones, unit: 'clones' }
  }
  const usedGB = roundGB(used.provisionedGB)
  const requestedGB = roundGB(requested.provisionedGB)
  if (quota.maxProvisionedGB !== null && roundGB(usedGB + requestedGB) > quota.maxProvisionedGB) {
    return { limit: quota.maxProvisionedGB, used: usedGB, requested: requestedGB, unit: 'GB' }
  }
  return undefined
}

/** 422 QUOTA_EXCEEDED, details {team, limit, used, requested, unit}, when the request does not fit. */
export function checkQuota(team: string, quota: Quota, used: QuotaUsage, requested: QuotaUsage): void {
  const excess = quotaExcess(quota, used, requested)
  if (!excess) return
  const what = excess.unit === 'clones' ? 'live clones' : 'provisioned GB'
  throw new QuotaExceeded(
    { team, ...excess },
    team,
    `${excess.used} ${what} in use and ${excess.requested} requested, over its limit of ${excess.limit}`,
  )
}
