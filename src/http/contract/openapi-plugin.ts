/**
 * The REST contract, generated: @fastify/swagger collects every route's TypeBox schema (registered
 * before the routes, so that it sees them all) into one OpenAPI 3.1 document; schemas with an `$id`
 * become named components (`#/components/schemas/<$id>`). Served without a token at
 * /openapi.json and /openapi.yaml, with a reference page at /docs (swagger-ui, its assets served
 * from the package: no CDN). The GraphQL schema's SDL, handed over by app.ts, is served to any
 * authenticated caller at /graphql/schema.graphql, introspection or not.
 */
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ErrorResponse } from '../common-schemas.js'
import { finishDocument, openapiDefinition, transformRouteSchema } from './document.js'

export interface ContractPluginOptions {
  /** The GraphQL schema's SDL, as schema.graphql holds it. */
  graphqlSchema: string
}

/** Routes that serve the contract itself: open, and not part of it. */
const hidden = { schema: { hide: true } }

export default fp(
  async function contractPlugin(app: FastifyInstance, opts: ContractPluginOptions) {
    // Filled by the routes' transforms as the document is built (once: @fastify/swagger caches it).
    const components = new Map<string, Record<string, unknown>>()
    await app.register(fastifySwagger, {
      openapi: openapiDefinition,
      transform: ({ schema, url }) => {
        // mercurius's own routes (/graphql, /graphiql) are described by the GraphQL schema, not here.
        if (url === '/graphql' || url.startsWith('/graphiql')) return { schema: { ...schema, hide: true }, url }
        return { schema: schema && (transformRouteSchema(schema as Record<string, unknown>, components) as typeof schema), url }
      },
      transformObject: (documentObject) => {
        const doc = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject
        return finishDocument(doc as Record<string, unknown>, components) as typeof doc
      },
    })

    app.get('/openapi.json', hidden, async (_request, reply) => reply.type('application/json; charset=utf-8').send(app.swagger()))
    app.get('/openapi.yaml', hidden, async (_request, reply) => reply.type('application/yaml; charset=utf-8').send(app.swagger({ yaml: true })))

    await app.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
      // Everything from the service itself: no script, style or font from elsewhere.
      staticCSP: true,
    })

    app.get(
      '/graphql/schema.graphql',
      {
        schema: {
          operationId: 'getGraphqlSchema',
          summary: "The GraphQL API's schema (SDL), also where introspection is off",
          tags: ['graphql'],
          produces: ['text/plain'],
          response: {
            200: Type.String({ description: 'The schema in GraphQL SDL' }),
            401: ErrorResponse,
          },
        },
        onRequest: async (request) => {
          await app.authenticate(request)
        },
      },
      async (_request, reply) => reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(opts.graphqlSchema),
    )
  },
  { name: 'contract', dependencies: ['jwt-auth'] },
)
