/** deploymentProgress: a deployment's progress pushed over WebSocket as it is committed, from any replica. */
import { DeploymentNotFound } from '../../errors.js'
import type { GraphqlContext } from '../../graphql/context.js'
import type { ProgressListener } from '../../graphql/progress/pg-listener.js'
import { openProgressStream } from '../../graphql/progress/stream.js'
import type { ProgressEvent } from '../../graphql/progress/tracker.js'
import { toEnum } from '../../graphql/common.js'
import { isUuid } from '../../domain/ids.js'
import { visibleTeams } from '../../domain/teams.js'
import { presentProgress } from './deployments-graphql.js'

export const typeDefs = /* GraphQL */ `
  enum ProgressEventKind {
    "The state when subscribing: the first event."
    SNAPSHOT
    "A clone reached a step (see clone)."
    CLONE
    "The deployment's status changed; after SUCCEEDED or FAILED the subscription completes."
    DEPLOYMENT
  }

  type CloneProgress {
    name: String!
    status: CloneStatus!
    moref: String
    error: RecordedError
  }

  type DeploymentProgressEvent {
    kind: ProgressEventKind!
    deploymentId: ID!
    "The deployment's status after this event."
    status: DeploymentStatus!
    "Why the deployment failed, once it has."
    error: RecordedError
    "For CLONE events."
    clone: CloneProgress
    "Counts after this event."
    progress: DeploymentProgress!
    "When the change was committed."
    at: DateTime!
  }

  extend type Subscription {
    "A snapshot, then each clone's step and each status change as it happens; completes when the deployment is final; DEPLOYMENT_NOT_FOUND for another team's."
    deploymentProgress(id: ID!): DeploymentProgressEvent!
  }
`

export function subscriptions(listener: ProgressListener) {
  return {
    deploymentProgress: {
      async subscribe(_: unknown, args: { id: string }, context: GraphqlContext) {
        if (!isUuid(args.id)) throw new DeploymentNotFound({ id: args.id }, args.id)
        return openProgressStream(
          {
            listener,
            // Another team's deployment has no snapshot: the stream refuses it as a missing one.
            readSnapshot: (id) => context.app.deployments.progressSnapshot(id, visibleTeams(context.principal!)),
            onError: (err) => context.app.log.error({ err, deploymentId: args.id }, 'progress resync failed'),
          },
          args.id.toLowerCase(),
        )
      },
      resolve: (event: ProgressEvent) => event,
    },
  }
}

export const resolvers = {
  DeploymentProgressEvent: {
    kind: (e: ProgressEvent) => toEnum(e.kind),
    status: (e: ProgressEvent) => toEnum(e.status),
    progress: (e: ProgressEvent) => presentProgress(e.progress),
    at: (e: ProgressEvent) => new Date(Math.floor(e.atMicros / 1000)),
  },
  CloneProgress: {
    status: (c: { status: string }) => toEnum(c.status),
  },
}
