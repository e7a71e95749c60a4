import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { cloneCaller } from './caller.js'
import { getCloneSchema, listClonesSchema } from './clones-schemas.js'
import { presentClone } from './clone-presenters.js'
import { DEFAULT_LIMIT, decodeCursor, encodeCursor, linkNext } from '../../http/pagination.js'
import { isUuid } from '../../domain/ids.js'
import { ValidationFailed } from '../../errors.js'

const cloneRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/clones', { schema: listClonesSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const { prefix, attribute, limit = DEFAULT_LIMIT, cursor } = request.query
    const after = decodeCursor(cursor, 2)
    if (after && (typeof after[0] !== 'string' || typeof after[1] !== 'string' || !isUuid(after[1]))) {
      throw new ValidationFailed({ field: 'cursor' }, '"cursor" is not a cursor given by this API')
    }
    const caller = cloneCaller(request.principal!)
    const { canReadSecrets } = caller
    const { records, more } = await app.assets.attributes.listClones(
      { prefix, attributes: attribute, limit, after: after as [string, string] | undefined },
      caller,
    )
    const last = records.at(-1)
    const page = { items: records, nextCursor: more && last ? encodeCursor([last.clone.name, last.clone.id]) : null }
    linkNext(request, reply, page.nextCursor)
    return { clones: page.items.map((r) => presentClone(r, canReadSecrets)), nextCursor: page.nextCursor }
  })

  app.get('/clones/:name', { schema: getCloneSchema, onRequest: app.requireScope('deployments:read') }, async (request) => {
    const caller = cloneCaller(request.principal!)
    const record = await app.assets.attributes.getClone(request.params.name, caller)
    return presentClone(record, caller.canReadSecrets)
  })
}

export default cloneRoutes
