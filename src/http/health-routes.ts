import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]))),
})

/** Unauthenticated on purpose: load balancers and orchestrators call these. They reveal no data. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health/live', { schema: { response: { 200: Health } } }, async () => ({ status: 'ok' as const }))

  app.get('/health/ready', { schema: { response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    const [database, vcenter] = await Promise.all([
      app.database.ping(),
      app.vcenter.ping(),
    ])
    const checks = {
      database: database ? ('ok' as const) : ('unavailable' as const),
      vcenter: vcenter ? ('ok' as const) : ('unavailable' as const),
    }
    const ready = database && vcenter
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks })
  })
}

export default healthRoutes
