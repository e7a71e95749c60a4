/**
 * The schema: each module's SDL and resolvers, put together. Root fields (Query, Mutation,
 * Subscription) pass through auth.ts's guard, each behind the scope ROOT_FIELD_SCOPES declares.
 */
import { guardRootResolvers } from '../graphql/auth.js'
import * as audit from './audit/audit-graphql.js'
import * as clones from './clones/clones-graphql.js'
import * as common from '../graphql/common.js'
import * as deployments from './deployments/deployments-graphql.js'
import * as parents from './parents/parents-graphql.js'
import * as pools from './pools/pools-graphql.js'
import * as progress from './deployments/progress-graphql.js'
import * as teams from './teams/teams-graphql.js'
import type { ProgressListener } from '../graphql/progress/pg-listener.js'

const roots = /* GraphQL */ `
  type Query
  type Mutation
  type Subscription
`

export const typeDefs = [roots, common.typeDefs, deployments.typeDefs, clones.typeDefs, parents.typeDefs, pools.typeDefs, progress.typeDefs, teams.typeDefs, audit.typeDefs].join('\n')

export function buildResolvers(options: { listener: ProgressListener }) {
  return {
    ...common.resolvers,
    ...deployments.resolvers,
    ...clones.resolvers,
    ...parents.resolvers,
    ...pools.resolvers,
    ...progress.resolvers,
    ...teams.resolvers,
    ...audit.resolvers,
    ...guardRootResolvers({
      Query: { ...deployments.queries, ...clones.queries, ...parents.queries, ...pools.queries, ...teams.queries, ...audit.queries },
      Mutation: { ...deployments.mutations, ...clones.mutations, ...pools.mutations, ...teams.mutations },
      Subscription: progress.subscriptions(options.listener),
    }),
  }
}
