import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { cloneCaller } from './caller.js'
import { getCloneSchema, listClonesSchema } from './clones-schemas.js'
import { presentClone } from './clone-presenters.js'
import { DEFAULT_LIMIT, decodeCursor, encodeCursor, linkNext } from '../../http/pagination.js'
import { CLONE_CURSOR_PARTS, cloneCursorAfter, cloneCursorKey } from './attribute-service.js'

const cloneRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/clones', { schema: listClonesSchema, onRequest: app.requireScope('deployments:read') }, async (request, reply) => {
    const { prefix, deployment, attribute, limit = DEFAULT_LIMIT, cursor } = request.query
    // A cursor of the list's order before this one (name, id) is refused as any foreign cursor.
    const after = cloneCursorAfter(decodeCursor(cursor, CLONE_CURSOR_PARTS), 'cursor')
    const caller = cloneCaller(request.principal!)
    const { canReadSecrets } = caller
    const { records, more } = await app.assets.attributes.listClones(
      { prefix, deployment, attributes: attribute, limit, after },
      caller,
    )
    const last = records.at(-1)
    const page = { items: records, nextCursor: more && last ? encodeCursor(cloneCursorKey(last.clone)) : null }
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
