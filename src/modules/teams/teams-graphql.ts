/**
 * Teams: team(name) as GET /v1/teams/{team} (a member, or admin; else TEAM_NOT_FOUND) and
 * setTeamQuota as PUT /v1/teams/{team}/quota (admin). An omitted limit is kept, null is no limit.
 */
import type { GraphqlContext } from '../../graphql/context.js'
import type { TeamView } from './team-service.js'

export const typeDefs = /* GraphQL */ `
  "A team's limits; null: no limit."
  type TeamQuota {
    "Live clones at most (accepted and not failed or destroyed)."
    maxClones: Int
    "Provisioned GB at most (each clone: its delta estimate and a swap file of its parent's memory)."
    maxProvisionedGB: Float
    "The admin who set it last; null: never set."
    updatedBy: String
    updatedAt: DateTime
  }

  "What a team holds now."
  type TeamUsage {
    "Live clones: accepted and not failed or destroyed (pending ones included)."
    clones: Int!
    provisionedGB: Float!
  }

  "A team (a JWT group, or user:<sub>), its quota and its usage."
  type Team {
    name: String!
    quota: TeamQuota!
    usage: TeamUsage!
  }

  extend type Query {
    "A team of the caller (admin: any known team); TEAM_NOT_FOUND otherwise."
    team(name: String!): Team
  }

  extend type Mutation {
    "Sets a team's quota (admin), as PUT /v1/teams/{team}/quota: an omitted limit is kept, null is no limit."
    setTeamQuota(team: String!, maxClones: Int, maxProvisionedGB: Float): Team!
  }
`

export const queries = {
  team: (_: unknown, args: { name: string }, context: GraphqlContext) => context.app.teams.get(args.name, context.principal!),
}

export const mutations = {
  setTeamQuota(_: unknown, args: { team: string; maxClones?: number | null; maxProvisionedGB?: number | null }, context: GraphqlContext) {
    const { team, ...limits } = args
    return context.app.teams.setQuota(team, limits, context.principal!)
  },
}

export const resolvers = {
  Team: {
    name: (t: TeamView) => t.team,
  },
}
