import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { PoolNotFound } from '../../errors.js'
import type { PoolRow } from '../../db/schema.js'
import type { PoolChange } from '../../services/pool-service.js'
import { changePoolSchema, createPoolSchema, getPoolSchema, listPoolsSchema, stripPoolSchema } from '../../schemas/pools.js'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

function presentPool(p: PoolRow) {
  return {
    name: p.name,
    status: p.status,
    parent: p.parentName,
    prefix: p.prefix,
    startNumber: p.startNumber,
    size: p.size,
    attributes: p.copiedAttributes,
    customizationAttribute: p.customizationAttribute,
    hostLimit: p.hostLimit,
    expiresAt: iso(p.expiresAt),
    requester: p.requester,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  }
}

async function presentPoolDetail(app: FastifyInstance, pool: PoolRow) {
  const [clones, deployments] = await Promise.all([app.poolRepository.liveClones(pool.name), app.poolRepository.deployments(pool.name)])
  return {
    ...presentPool(pool),
    drift: pool.drift ?? null,
    clones: clones.map((c) => ({ name: c.name, number: c.number, status: c.status, moref: c.moref, instanceUuid: c.instanceUuid })),
    deployments: deployments.map((d) => ({
      id: d.id,
      kind: d.kind,
      status: d.status,
      count: d.count,
      createdAt: d.createdAt.toISOString(),
      finishedAt: iso(d.finishedAt),
    })),
  }
}

function presentChange(change: PoolChange) {
  return { pool: presentPool(change.pool), deploymentId: change.deploymentIds[0] ?? null, deploymentIds: change.deploymentIds }
}

const poolRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/pools', { schema: createPoolSchema, preHandler: app.requireScope('deployments:write') }, async (request, reply) => {
    const change = await app.pools.create(request.body, request.principal!.sub)
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentChange(change))
  })

  app.get('/pools', { schema: listPoolsSchema, preHandler: app.requireScope('deployments:read') }, async () => {
    return { pools: (await app.poolRepository.list()).map(presentPool) }
  })

  app.get('/pools/:name', { schema: getPoolSchema, preHandler: app.requireScope('deployments:read') }, async (request) => {
    const pool = await app.poolRepository.get(request.params.name)
    if (!pool) throw new PoolNotFound({ pool: request.params.name }, request.params.name)
    return presentPoolDetail(app, pool)
  })

  app.patch('/pools/:name', { schema: changePoolSchema, preHandler: app.requireScope('deployments:write') }, async (request, reply) => {
    const change = await app.pools.change(request.params.name, request.body, request.principal!.sub)
    if (change.deploymentIds.length === 0) return reply.code(200).send(presentChange(change))
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentChange(change))
  })

  app.delete('/pools/:name', { schema: stripPoolSchema, preHandler: app.requireScope('deployments:write') }, async (request, reply) => {
    const change = await app.pools.strip(request.params.name, request.principal!.sub)
    return reply.code(202).header('Location', `/v1/deployments/${change.deploymentIds[0]}`).send(presentChange(change))
  })
}

export default poolRoutes
