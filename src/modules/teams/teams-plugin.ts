/** Teams: the service of their quotas and usage, on a repository of its own (team_quotas, clones). */
import fp from 'fastify-plugin'
import { TeamRepository } from '../../db/repositories/teams.js'
import { TeamService } from './team-service.js'

declare module 'fastify' {
  interface FastifyInstance {
    teams: TeamService
  }
}

export default fp(
  async function teamsPlugin(app) {
    app.decorate('teams', new TeamService(new TeamRepository(app.database)))
  },
  { name: 'teams', dependencies: ['database'] },
)
