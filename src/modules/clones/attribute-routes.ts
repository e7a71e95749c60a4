/**
 * Clones' attributes: PATCH sets them in vCenter and in the records together (AttributeService), GET
 * history shows every change (by whom: a user, a deployment, vCenter), reveal and disappearance.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Caller } from './attribute-service.js'
import { cloneCaller } from './caller.js'
import { historySchema, setAttributesSchema } from './attribute-schemas.js'
import { presentClone } from './clone-presenters.js'
import { linkNext } from '../../http/pagination.js'

const callerOf = (request: FastifyRequest): Caller => cloneCaller(request.principal!)

const attributeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.patch(
    '/clones/:name/attributes',
    { schema: setAttributesSchema, onRequest: app.requireScope('deployments:write') },
    async (request) => {
      const caller = callerOf(request)
      const values = Object.entries(request.body.attributes).map(([name, value]) => ({ name, value }))
      const changes = await app.assets.attributes.setAttributes(request.params.name, values, caller)
      // Names only: values (secrets among them) never reach the log.
      request.log.info({ clone: request.params.name, changed: changes.map((c) => c.name) }, 'attributes set')
      const record = await app.assets.attributes.getClone(request.params.name, caller)
      return { changed: changes.map((c) => c.name), clone: presentClone(record, caller.canReadSecrets) }
    },
  )

  app.get('/clones/:name/history', { schema: historySchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const { limit, cursor } = request.query
    const { record, entries, nextCursor } = await app.assets.attributes.history(request.params.name, callerOf(request), { limit, cursor })
    linkNext(request, reply, nextCursor)
    return {
      clone: record.clone.name,
      entries: entries.map((e) => ({ ...e, at: e.at.toISOString() })),
      nextCursor,
    }
  })
}

export default attributeRoutes
