import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CloneNotFound } from '../../errors.js'
import { hasScope } from '../../plugins/external/jwt.js'
import { getCloneSchema, listClonesSchema } from '../../schemas/clones.js'
import { presentClone } from './presenters.js'

const cloneRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/clones', { schema: listClonesSchema, preHandler: app.requireScope('deployments:read') }, async (request) => {
    const { prefix, limit = 500 } = request.query
    const records = await app.repositories.clones.list({ prefix, limit })
    const canReadSecrets = hasScope(request.principal, 'secrets:read')
    return { clones: records.map((r) => presentClone(r, canReadSecrets)) }
  })

  app.get('/clones/:name', { schema: getCloneSchema, preHandler: app.requireScope('deployments:read') }, async (request) => {
    const { name } = request.params
    const record = await app.repositories.clones.findByName(name)
    if (!record) throw new CloneNotFound({ name }, name)
    return presentClone(record, hasScope(request.principal, 'secrets:read'))
  })
}

export default cloneRoutes
