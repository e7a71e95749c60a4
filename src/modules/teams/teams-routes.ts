import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { presentTeam } from './team-presenters.js'
import { getTeamSchema, listTeamsSchema, setTeamQuotaSchema } from './teams-schemas.js'

const teamRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const read = app.requireScope('deployments:read')
  const admin = app.requireScope('admin')

  app.get('/teams', { schema: listTeamsSchema, onRequest: read }, async (request) => ({
    items: (await app.teams.list(request.principal!)).map(presentTeam),
  }))

  app.get('/teams/:team', { schema: getTeamSchema, onRequest: read }, async (request) =>
    presentTeam(await app.teams.get(request.params.team, request.principal!)),
  )

  app.put('/teams/:team/quota', { schema: setTeamQuotaSchema, onRequest: admin }, async (request) => {
    const view = await app.teams.setQuota(request.params.team, request.body, request.principal!)
    request.log.info({ team: view.team, quota: request.body }, 'team quota set')
    return presentTeam(view)
  })
}

export default teamRoutes
