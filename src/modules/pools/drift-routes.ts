import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { checkDriftSchema, reconcileSchema } from './drift-schemas.js'

const poolDriftRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/pools/:name/drift', { schema: checkDriftSchema, onRequest: app.requireScope('deployments:write') }, async (request) => {
    return { pool: request.params.name, drift: await app.reconciler.check(request.params.name) }
  })

  app.post('/pools/:name/reconcile', { schema: reconcileSchema, onRequest: app.requireScope('deployments:write') }, async (request, reply) => {
    const outcome = await app.reconciler.reconcile(request.params.name, request.principal!.sub)
    const body = { ...outcome, deploymentId: outcome.deploymentIds[0] ?? null }
    if (outcome.deploymentIds.length === 0) return reply.code(200).send(body)
    request.log.info({ pool: outcome.pool, repairs: outcome.repairs, deploymentIds: outcome.deploymentIds }, 'pool reconcile accepted')
    return reply.code(202).header('Location', `/v1/deployments/${outcome.deploymentIds[0]}`).send(body)
  })
}

export default poolDriftRoutes
