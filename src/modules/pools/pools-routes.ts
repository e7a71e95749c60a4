import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  changePoolSchema,
  checkDriftSchema,
  createPoolSchema,
  getPoolSchema,
  listPoolsSchema,
  recomposePoolSchema,
  refreshPoolSchema,
  reconcileSchema,
  stripPoolSchema,
} from './pools-schemas.js'
import { presentPool, presentPoolChange, presentPoolDetail } from './pool-presenters.js'
import { linkNext, pageOfList } from '../../http/pagination.js'

const poolRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/pools', { schema: createPoolSchema, onRequest: app.requireScope('deployments:write') }, async (request, reply) => {
    const { ticket, ...body } = request.body
    const change = await app.pools.create(body, request.principal!, ticket)
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentPoolChange(change))
  })

  app.get('/pools', { schema: listPoolsSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const pools = (await app.pools.list(request.principal!)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const page = pageOfList(pools, request.query, (p) => p.name)
    linkNext(request, reply, page.nextCursor)
    return { pools: page.items.map(presentPool), nextCursor: page.nextCursor }
  })

  app.get('/pools/:name', { schema: getPoolSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    const { pool, clones, deployments } = await app.pools.detail(request.params.name, request.principal!)
    return presentPoolDetail(pool, clones, deployments)
  })

  app.patch('/pools/:name', { schema: changePoolSchema, onRequest: app.requireScope('deployments:write') }, async (request, reply) => {
    const { ticket, ...body } = request.body
    const change = await app.pools.change(request.params.name, body, request.principal!, ticket)
    if (change.deploymentIds.length === 0) return reply.code(200).send(presentPoolChange(change))
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentPoolChange(change))
  })

  // Every field of a refresh or recompose is optional: a POST without a body means the defaults.
  const emptyBodyIsDefaults = async (request: { body: unknown }) => {
    request.body ??= {}
  }

  app.post(
    '/pools/:name/refresh',
    { schema: refreshPoolSchema, preValidation: emptyBodyIsDefaults, onRequest: app.requireScope('deployments:write') },
    async (request, reply) => {
      const { ticket, ...body } = request.body
      const change = await app.pools.refresh(request.params.name, body, request.principal!, ticket)
      return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentPoolChange(change))
    },
  )

  app.post(
    '/pools/:name/recompose',
    { schema: recomposePoolSchema, preValidation: emptyBodyIsDefaults, onRequest: app.requireScope('deployments:write') },
    async (request, reply) => {
      const { ticket, ...body } = request.body
      const change = await app.pools.recompose(request.params.name, body, request.principal!, ticket)
      return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentPoolChange(change))
    },
  )

  app.delete('/pools/:name', { schema: stripPoolSchema, onRequest: app.requireScope('deployments:write') }, async (request, reply) => {
    const change = await app.pools.strip(request.params.name, request.principal!, request.query.ticket)
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentPoolChange(change))
  })
  app.post('/pools/:name/drift', { schema: checkDriftSchema, onRequest: app.requireScope('deployments:write') }, async (request) => {
    return { pool: request.params.name, drift: await app.reconciler.check(request.params.name, request.principal!) }
  })

  const reconcileOptions = { schema: reconcileSchema, preValidation: emptyBodyIsDefaults, onRequest: app.requireScope('deployments:write') }
  app.post('/pools/:name/reconcile', reconcileOptions, async (request, reply) => {
    const outcome = await app.reconciler.reconcile(request.params.name, request.principal!, request.body.ticket)
    const body = { ...outcome, deploymentId: outcome.deploymentIds[0] ?? null }
    if (outcome.deploymentIds.length === 0) return reply.code(200).send(body)
    request.log.info({ pool: outcome.pool, repairs: outcome.repairs, deploymentIds: outcome.deploymentIds }, 'pool reconcile accepted')
    return reply.code(202).header('Location', `/v1/deployments/${outcome.deploymentIds[0]}`).send(body)
  })
}

export default poolRoutes
