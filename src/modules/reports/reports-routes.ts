/**
 * Space reports: the forecast (pure arithmetic on the sizes given), the measurement of the service's
 * parents and clones in vCenter, and the same as an SVG bar chart like the seed's graph.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { checkSpaceGroups, forecastSpace } from '../../domain/space.js'
import { renderSpaceChart } from './space-chart.js'
import { SpaceReporter, type SpaceReport } from './space-report.js'
import { forecastSchema, spaceChartSchema, spaceReportSchema } from './reports-schemas.js'
import { visibleTeams, type TeamFilter } from '../../domain/teams.js'

const reportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made on first use: the routes are also registered without a database to generate the contract.
  let reporter: SpaceReporter | undefined
  const measure = (teams: TeamFilter): Promise<SpaceReport> => (reporter ??= new SpaceReporter(app.repositories.clones, app.vcenter)).measure(teams)

  app.post('/reports/space/forecast', { schema: forecastSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    checkSpaceGroups(request.body.groups)
    return { unit: 'GB' as const, ...forecastSpace(request.body.groups) }
  })

  app.get('/reports/space', { schema: spaceReportSchema, onRequest: app.requireScope('deployments:read') }, async (request) => measure(visibleTeams(request.principal!)))

  app.get('/reports/space.svg', { schema: spaceChartSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const report = await measure(visibleTeams(request.principal!))
    const svg = renderSpaceChart({
      groups: report.parents,
      total: report.parents.length ? report.total : undefined,
      note: `measured ${report.measuredAt.replace('T', ' ').slice(0, 16)} UTC`,
    })
    return reply
      .type('image/svg+xml; charset=utf-8')
      .header('cache-control', 'no-store')
      // Nothing in it may run or load anything, wherever it is opened.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(svg)
  })
}

export default reportRoutes
