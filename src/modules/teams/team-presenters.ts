/** A team as REST answers it (GraphQL resolves the same view with its own field names). */
import type { TeamView } from './team-service.js'

export function presentTeam(view: TeamView) {
  return {
    team: view.team,
    quota: {
      maxClones: view.quota.maxClones,
      maxProvisionedGB: view.quota.maxProvisionedGB,
      updatedBy: view.quota.updatedBy,
      updatedAt: view.quota.updatedAt ? new Date(view.quota.updatedAt).toISOString() : null,
    },
    usage: { clones: view.usage.clones, provisionedGB: view.usage.provisionedGB },
  }
}
