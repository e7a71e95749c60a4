/**
 * Teams: a team's quota (set by an admin) and its usage. A caller sees its own teams only; another
 * team is 404 TEAM_NOT_FOUND, as if it did not exist. The quota itself is enforced where deployments
 * are recorded (db/repositories/deployments.ts create, domain/quota.ts).
 */
import type { TeamRepository } from '../../db/repositories/teams.js'
import type { TeamQuotaRow } from '../../db/schema.js'
import type { Quota, QuotaUsage } from '../../domain/quota.js'
import { canSee, visibleTeams, type TeamMember } from '../../domain/teams.js'
import { TeamNotFound, ValidationFailed } from '../../errors.js'

/** The largest limits accepted (team_quotas: integer, numeric(12, 1)). */
export const MAX_QUOTA_CLONES = 1_000_000
export const MAX_QUOTA_GB = 1_000_000_000

export interface TeamView {
  team: string
  /** Null limits: none; the row is absent until an admin sets one. */
  quota: Quota & { updatedBy: string | null; updatedAt: Date | null }
  usage: QuotaUsage
}

export class TeamService {
  constructor(private readonly repository: TeamRepository) {}

  /** A team the caller is a member of (an admin: any team the service knows); else 404 TEAM_NOT_FOUND. */
  async get(team: string, caller: TeamMember): Promise<TeamView> {
    const member = caller.teams.includes(team)
    if (!member && !(canSee(visibleTeams(caller), team) && (await this.repository.known(team)))) {
      throw new TeamNotFound({ team }, team)
    }
    return this.view(team)
  }

  /** The caller's teams (an admin's: every team with a quota, deployments or pools), by name. */
  async list(caller: TeamMember): Promise<TeamView[]> {
    const known = await this.repository.names(visibleTeams(caller))
    const names = [...new Set([...known, ...caller.teams])].sort()
    return Promise.all(names.map((team) => this.view(team)))
  }

  /**
   * Sets a team's limits (admin: the route's scope): null is no limit, an omitted one is kept. Takes
   * effect for the next deployment recorded; clones already accepted are never undone.
   */
  async setQuota(team: string, quota: Partial<Quota>, caller: TeamMember): Promise<TeamView> {
    checkLimits(quota)
    await this.repository.setQuota(team, quota, caller.sub)
    return this.view(team)
  }

  private async view(team: string): Promise<TeamView> {
    const [row, usage] = await Promise.all([this.repository.quota(team), this.repository.usage(team)])
    return { team, quota: quotaOf(row), usage }
  }
}

function quotaOf(row: TeamQuotaRow | undefined): TeamView['quota'] {
  if (!row) return { maxClones: null, maxProvisionedGB: null, updatedBy: null, updatedAt: null }
  return { maxClones: row.maxClones, maxProvisionedGB: row.maxProvisionedGB, updatedBy: row.updatedBy, updatedAt: row.updatedAt }
}

/** What REST's schema checks, for GraphQL's arguments too: 400 VALIDATION_FAILED. */
function checkLimits(quota: Partial<Quota>): void {
  const { maxClones, maxProvisionedGB } = quota
  if (maxClones !== undefined && maxClones !== null && (!Number.isInteger(maxClones) || maxClones < 0 || maxClones > MAX_QUOTA_CLONES)) {
    throw new ValidationFailed({ field: 'maxClones' }, `"maxClones" must be a whole number from 0 to ${MAX_QUOTA_CLONES}, or null for no limit`)
  }
  if (maxProvisionedGB !== undefined && maxProvisionedGB !== null && (!Number.isFinite(maxProvisionedGB) || maxProvisionedGB < 0 || maxProvisionedGB > MAX_QUOTA_GB)) {
    throw new ValidationFailed({ field: 'maxProvisionedGB' }, `"maxProvisionedGB" must be a number from 0 to ${MAX_QUOTA_GB}, or null for no limit`)
  }
}
