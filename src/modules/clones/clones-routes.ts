import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { hasScope } from '../../http/auth-plugin.js'
import { getCloneSchema, listClonesSchema } from './clones-schemas.js'
import { presentClone } from './clone-presenters.js'

const cloneRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/clones', { schema: listClonesSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    const { prefix, attribute, limit = 500 } = request.query
    const canReadSecrets = hasScope(request.principal, 'secrets:read')
    const records = await app.assets.attributes.listClones(
      { prefix, attributes: attribute, limit },
      { sub: request.principal!.sub, canReadSecrets },
    )
    return { clones: records.map((r) => presentClone(r, canReadSecrets)) }
  })

  app.get('/clones/:name', { schema: getCloneSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    const canReadSecrets = hasScope(request.principal, 'secrets:read')
    const record = await app.assets.attributes.getClone(request.params.name, { sub: request.principal!.sub, canReadSecrets })
    return presentClone(record, canReadSecrets)
  })
}

export default cloneRoutes
