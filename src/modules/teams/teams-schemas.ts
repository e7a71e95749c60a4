import { Type } from '@fastify/type-provider-typebox'
import { ErrorResponse, Nullable, authErrors } from '../../http/common-schemas.js'
import { MAX_QUOTA_CLONES, MAX_QUOTA_GB } from './team-service.js'

const tags = ['teams']

const TeamParams = Type.Object(
  { team: Type.String({ minLength: 1, maxLength: 200, description: "The team's name (a JWT group, or user:<sub>)" }) },
  { additionalProperties: false },
)

export const Team = Type.Object({
  team: Type.String(),
  quota: Type.Object({
    maxClones: Nullable(Type.Integer(), { description: 'Live clones at most (accepted and not failed or destroyed); null: no limit' }),
    maxProvisionedGB: Nullable(Type.Number(), { description: 'Provisioned GB at most (each clone: its delta estimate and a swap file of its parent\'s memory); null: no limit' }),
    updatedBy: Nullable(Type.String({ description: 'The admin who set it last; null: never set' })),
    updatedAt: Nullable(Type.String({ format: 'date-time' })),
  }),
  usage: Type.Object({
    clones: Type.Integer({ description: 'Live clones: accepted and not failed or destroyed (pending ones included); a rebuild counts once per clone replaced' }),
    provisionedGB: Type.Number({ description: 'The provisioned GB of those clones' }),
  }),
})

export const getTeamSchema = {
  operationId: 'getTeam',
  summary: "A team's quota and usage (a member of the team, or admin)",
  tags,
  params: TeamParams,
  response: { 200: Team, 400: ErrorResponse, ...authErrors, 404: ErrorResponse },
}

export const listTeamsSchema = {
  operationId: 'listTeams',
  summary: "The caller's teams with their quotas and usage (admin: every team with a quota, deployments or pools)",
  tags,
  response: { 200: Type.Object({ items: Type.Array(Team) }), ...authErrors },
}

export const setTeamQuotaSchema = {
  operationId: 'setTeamQuota',
  summary: "Sets a team's quota (admin): null is no limit, an omitted limit is kept",
  tags,
  params: TeamParams,
  body: Type.Object(
    {
      maxClones: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: MAX_QUOTA_CLONES }), { description: 'Live clones at most; null: no limit' })),
      maxProvisionedGB: Type.Optional(
        Nullable(Type.Number({ minimum: 0, maximum: MAX_QUOTA_GB }), { description: 'Provisioned GB at most (kept to 0.1 GB); null: no limit' }),
      ),
    },
    { additionalProperties: false, minProperties: 1 },
  ),
  response: { 200: Team, 400: ErrorResponse, ...authErrors },
}
