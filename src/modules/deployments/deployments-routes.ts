import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { isUuid } from '../../domain/ids.js'
import { visibleTeams } from '../../domain/teams.js'
import { DeploymentNotFound } from '../../errors.js'
import { createDeploymentSchema, getDeploymentSchema, listDeploymentsSchema } from './deployments-schemas.js'
import { presentDeployment, presentDeploymentSummary, presentPlan, type EstimateBasis } from './deployment-presenters.js'

const deploymentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const basis: EstimateBasis = { limits: app.config.limits, secondsPerClone: app.config.estimatedSecondsPerClone, guestSeconds: app.config.estimatedGuestSeconds }

  app.post(
    '/deployments',
    { schema: createDeploymentSchema, onRequest: app.requireScope('deployments:write') },
    async (request, reply) => {
      if (request.body.dryRun) {
        return reply.code(200).send(presentPlan(await app.deployments.dryRun(request.body, request.principal!), basis))
      }
      const created = await app.deployments.create(request.body, request.principal!)
      request.log.info(
        { deploymentId: created.deployment.id, parent: created.deployment.parentName, count: created.deployment.count },
        'deployment accepted',
      )
      return reply
        .code(202)
        .header('Location', `/v1/deployments/${created.deployment.id}`)
        .send(presentDeployment(created, basis))
    },
  )

  app.get('/deployments', { schema: listDeploymentsSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const { limit = 100, cursor, ...filter } = request.query
    const page = await app.deployments.list({ ...filter, teams: visibleTeams(request.principal!) }, limit, cursor)
    if (page.nextCursor) {
      const next = new URLSearchParams()
      for (const [name, value] of Object.entries({ ...filter, limit })) if (value !== undefined) next.set(name, String(value))
      next.set('cursor', page.nextCursor)
      reply.header('link', `</v1/deployments?${next.toString()}>; rel="next"`)
    }
    return { items: page.items.map((i) => presentDeploymentSummary(i.deployment, i.counts)), nextCursor: page.nextCursor }
  })

  app.get(
    '/deployments/:id',
    { schema: getDeploymentSchema, onRequest: app.requireScope('deployments:read') },
    async (request) => {
      const { id } = request.params
      const found = isUuid(id) ? await app.deployments.get(id, visibleTeams(request.principal!)) : undefined
      if (!found) throw new DeploymentNotFound({ id }, id)
      return presentDeployment(found, basis)
    },
  )
}

export default deploymentRoutes
