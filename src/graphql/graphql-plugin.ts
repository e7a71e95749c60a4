/**
 * GraphQL at /graphql (mercurius): queries and the mutation over HTTP POST (or GET for queries),
 * the subscription over WebSocket (graphql-transport-ws or graphql-ws) on the same path.
 * Behind the same JWTs and scopes as REST (graphql/auth.ts), hardened (graphql/hardening.ts), with
 * progress from PostgreSQL's LISTEN/NOTIFY (graphql/progress). GraphiQL at /graphiql and
 * introspection only when NODE_ENV is not production.
 */
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { specifiedRules, validate } from 'graphql'
import mercurius from 'mercurius'
import { authenticateConnectionInit, graphqlPreHandler } from './auth.js'
import type { GraphqlContext } from './context.js'
import { formatExecutionErrors } from './errors.js'
import { hardeningRules, withCode } from './hardening.js'
import { createLoaders } from './loaders.js'
import { ProgressListener } from './progress/pg-listener.js'
import { closeAtTokenExpiry, socketContext, type ExpiringSocket } from './socket-expiry.js'
import type { Principal } from '../http/auth-plugin.js'

declare module 'mercurius' {
  // Declaration merging: mercurius's context gains GraphqlContext's members.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface MercuriusContext extends Omit<GraphqlContext, 'app'> {}
}

/** The schema the feature modules make (src/modules/graphql-schema.ts), handed over by app.ts. */
export interface GraphqlSchema {
  typeDefs: string
  buildResolvers(options: { listener: ProgressListener }): Record<string, unknown>
}

export interface GraphqlPluginOptions {
  databaseUrl: string
  nodeEnv: string
  schema: GraphqlSchema
}

export default fp(
  async function graphqlPlugin(app: FastifyInstance, opts: GraphqlPluginOptions) {
    const production = opts.nodeEnv === 'production'
    const listener = new ProgressListener({ databaseUrl: opts.databaseUrl, log: app.log.child({ component: 'graphql-progress' }) })
    app.addHook('onClose', () => listener.close())
    const rules = hardeningRules({ introspection: !production })
    const loadersFor = (principal: Principal | undefined, options: { cache: boolean }) =>
      createLoaders(
        { deployments: app.deployments, clones: app.assets.attributes, parents: app.parents, pools: app.pools, principal },
        options,
      )

    await app.register(mercurius, {
      schema: opts.schema.typeDefs,
      resolvers: opts.schema.buildResolvers({ listener }) as never,
      path: '/graphql',
      graphiql: !production,
      allowBatchedQueries: false,
      // A query seen once more is compiled with graphql-jit: listing 1,000 clones takes about half the time.
      jit: 1,
      validationRules: rules,
      errorFormatter: formatExecutionErrors as never,
      additionalRouteOptions: { preHandler: graphqlPreHandler(app) },
      context: (request) => ({ principal: request.principal, loaders: loadersFor(request.principal, { cache: true }) }),
      subscription: {
        // The socket, for closing it when its token expires (socket-expiry.ts).
        context: (socket) => socketContext(socket as unknown as ExpiringSocket),
        // The token is checked before the connection is acknowledged; a refused one gets
        // connection_error and the socket is closed (mercurius's answer to a falsy onConnect).
        async onConnect({ payload }) {
          try {
            const principal = await authenticateConnectionInit(app, payload)
            // One WebSocket lives long: its loaders batch but do not cache.
            return { principal, loaders: loadersFor(principal, { cache: false }) }
          } catch (err) {
            app.log.info({ code: (err as { code?: string }).code }, 'graphql websocket refused at connection_init')
            return false
          }
        },
        keepAlive: 25_000,
      },
    })

    // mercurius does not run validation rules on subscriptions (graphql's subscribe() does not
    // validate): the same rules, and the specification's, before one starts.
    app.graphql.addHook('preSubscriptionExecution', async (schema, document, context) => {
      closeAtTokenExpiry(context as Parameters<typeof closeAtTokenExpiry>[0])
      const [first] = validate(schema, document, [...specifiedRules, ...rules])
      if (first) throw withCode(first)
    })
  },
  { name: 'graphql', dependencies: ['jwt-auth', 'database', 'vcenter', 'assets', 'deployments', 'pools', 'parents'] },
)
