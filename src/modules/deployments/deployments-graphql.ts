/** Deployments: reading them (one, or a filtered page) and deployLinkedClones, as POST /v1/deployments. */
import type { DeploymentRow } from './deployment-service.js'
import { DeploymentNotFound } from '../../errors.js'
import { DEPLOYMENT_KINDS, countByStatus, durationSeconds, isFinalCloneStatus, type CloneStatus, type DeploymentKind, type DeploymentStatus } from '../../domain/progress.js'
import { presentPlan } from './deployment-presenters.js'
import { PAGE_ARGS, connectionResolvers, connectionTypeDefs, paginate, type PageArgs } from '../../graphql/connection.js'
import type { GraphqlContext } from '../../graphql/context.js'
import { isUuid } from '../../domain/ids.js'
import { visibleTeams } from '../../domain/teams.js'
import { deploymentRequest } from './deployments-schemas.js'
import { deploymentCursorKey, type DeploymentFilter } from './deployment-service.js'
import type { ProgressCounts } from '../../graphql/progress/tracker.js'
import { CLONE_STATUSES, fromEnum, toEnum, toFieldName } from '../../graphql/common.js'

export const typeDefs = /* GraphQL */ `
  """
  What a deployment does: DEPLOY makes clones; SCALE_DOWN and STRIP destroy a pool's clones; REFRESH and
  RECOMPOSE rebuild them (from the pool's snapshot, or a new one); RECONCILE repairs a pool's drift.
  """
  enum DeploymentKind {
    ${DEPLOYMENT_KINDS.map(toEnum).join('\n    ')}
  }

  type Deployment {
    id: ID!
    kind: DeploymentKind!
    "The pool this deployment changed; null for a deployment of its own."
    pool: String
    status: DeploymentStatus!
    parent: ParentRef!
    snapshot: SnapshotRef!
    prefix: String!
    startNumber: Int!
    count: Int!
    customizationAttribute: String!
    customizationSpec: String!
    "Custom attributes copied from the parent to each clone (Template is set too)."
    copiedAttributes: [String!]!
    "The parent's clones go on at most this many hosts."
    hostLimit: Int!
    "This deployment's operations at once; null: only the service's limits."
    maxConcurrent: Int
    requester: String!
    "The team that owns it."
    team: String!
    ticket: String
    "The X-Request-Id of the request that caused it; null when the service started it (e.g. a pool's expiry)."
    requestId: String
    warnings: [Warning!]!
    error: RecordedError
    createdAt: DateTime!
    startedAt: DateTime
    finishedAt: DateTime
    "From start to finish, or to now while running."
    durationSeconds: Float
    progress: DeploymentProgress!
    "In number order: the clones it made, or for SCALE_DOWN and STRIP the clones it destroys."
    clones: [Clone!]!
  }

  type DeploymentProgress {
    total: Int!
    "Clones that are final: ready or failed."
    done: Int!
    failed: Int!
    byStatus: CloneStatusCounts!
  }

  type CloneStatusCounts {
    ${CLONE_STATUSES.map((status) => `${toFieldName(status)}: Int!`).join('\n    ')}
  }

  ${connectionTypeDefs('Deployment')}

  input DeploymentFilter {
    status: DeploymentStatus
    "The parent's name."
    parent: String
    "The token's sub that asked for it."
    requester: String
    "The external reference it (or its pool operation) was asked for, e.g. RITM0012345."
    ticket: String
    "The X-Request-Id of the request that caused it."
    requestId: String
    "The pool's name."
    pool: String
    "The owning team (among the caller's teams; admin: any)."
    team: String
    kind: DeploymentKind
  }

  "The fields, limits and defaults of POST /v1/deployments' body."
  input DeployLinkedClonesInput {
    "Name of the parent VM"
    parent: String!
    "1 to 2000"
    count: Int!
    "Default: the lowest number from which every requested name is free (1 for a new prefix; 26 after Capture01..Capture25)"
    startNumber: Int
    "Default: the parent name's second word"
    prefix: String
    "Custom attributes to copy from the parent; default the seed's ten"
    attributes: [String!]
    "The parent's attribute naming the customization spec; default Customisation"
    customizationAttribute: String
    "External reference, e.g. RITM0012345"
    ticket: String
    "At most this many hosts for the parent's clones (VMFS: 8, VMFS5/NFS: 32)"
    hostLimit: Int
    "This deployment's operations at once, 1 to 640"
    maxConcurrent: Int
    "The parent's snapshot to clone from, by moref or name (default its current one); SNAPSHOT_NOT_FOUND, SNAPSHOT_AMBIGUOUS"
    snapshot: String
    "Minutes each clone waits for its guest's customization after power-on, 1 to 720 (default CUSTOMIZATION_TIMEOUT_MINUTES, 30)"
    customizationTimeoutMinutes: Int
    "The team that owns it; required (TEAM_REQUIRED) when the token is in several teams, TEAM_FORBIDDEN for a team it is not in"
    team: String
  }

  "What planLinkedClones answers, as POST /v1/deployments with dryRun: every check passed, nothing was changed."
  type DeploymentPlan {
    "Always true: nothing was deployed."
    dryRun: Boolean!
    parent: ParentRef!
    snapshot: SnapshotRef!
    prefix: String!
    "The first number: the one asked for, or the lowest free one (startNumberChosen)."
    startNumber: Int!
    "True when the input gave no startNumber and the plan chose it."
    startNumberChosen: Boolean!
    customizationSpec: String!
    copiedAttributes: [String!]!
    "The clones it would make, in number order, each with the host it would go on."
    clones: [PlannedClone!]!
    "The hosts it would use and how many clones each would get."
    hosts: [PlannedHost!]!
    hostLimit: Int!
    checks: [PlanCheck!]!
    warnings: [Warning!]!
    estimate: PlanEstimate!
  }

  type PlannedClone {
    name: String!
    "The host's moref."
    host: String!
  }

  type PlannedHost {
    moref: String!
    name: String!
    clones: Int!
  }

  type PlanCheck {
    check: String!
    passed: Boolean!
    detail: String!
  }

  type PlanEstimate {
    "Clones at once under the tightest limit."
    concurrency: Int!
    waves: Int!
    seconds: Float!
    secondsPerClone: Float!
    "The guest's customization after power-on, counted once: guests customize in parallel."
    guestSeconds: Float!
  }

  extend type Query {
    "A deployment; DEPLOYMENT_NOT_FOUND when there is none with this id (or it is another team's)."
    deployment(id: ID!): Deployment
    "The caller's teams' deployments (admin: every team's), newest first."
    deployments(filter: DeploymentFilter, ${PAGE_ARGS}): DeploymentConnection!
    """
    The plan deployLinkedClones would follow (names, hosts, checks, estimate) with the same checks and
    errors, from read-only calls: nothing is recorded or changed.
    """
    planLinkedClones(input: DeployLinkedClonesInput!): DeploymentPlan!
  }

  extend type Mutation {
    """
    Deploys linked clones of a parent, with the checks and error codes of POST /v1/deployments
    (PARENT_NOT_FOUND, SNAPSHOT_MISSING, CUSTOMIZATION_SPEC_NOT_FOUND, NAME_CONFLICT, VALIDATION_FAILED,
    VCENTER_UNAVAILABLE). Returns at once, queued; follow it with deploymentProgress. planLinkedClones
    answers the plan without deploying.
    """
    deployLinkedClones(input: DeployLinkedClonesInput!): Deployment!
  }
`

/** The snapshot a deployment's clones were made from. */
export const snapshotOf = (d: DeploymentRow) => ({ name: d.snapshotName, moref: d.snapshotMoref, createdAt: d.snapshotCreatedAt })

/** Counts per status as the API shows them (REST's progress, in GraphQL's field names). */
export function presentProgress({ total, done, failed, byStatus }: ProgressCounts) {
  return {
    total,
    done,
    failed,
    byStatus: Object.fromEntries(Object.entries(byStatus).map(([status, n]) => [toFieldName(status), n])),
  }
}

function progressFromCounts(counts: { status: CloneStatus; n: number }[]): ProgressCounts {
  const byStatus = countByStatus([])
  for (const { status, n } of counts) byStatus[status] += n
  const total = counts.reduce((sum, c) => sum + c.n, 0)
  const done = counts.filter((c) => isFinalCloneStatus(c.status)).reduce((sum, c) => sum + c.n, 0)
  return { total, done, failed: byStatus.failed, byStatus }
}

interface DeploymentsArgs extends PageArgs {
  filter?: {
    status?: string | null
    parent?: string | null
    requester?: string | null
    ticket?: string | null
    requestId?: string | null
    pool?: string | null
    team?: string | null
    kind?: string | null
  } | null
}

/** What planLinkedClones answers: POST /v1/deployments' dry run. */
type PresentedPlan = ReturnType<typeof presentPlan>

export const queries = {
  /** As POST /v1/deployments with dryRun: the same read-only checks and the same presentation. */
  async planLinkedClones(_: unknown, args: { input: Record<string, unknown> }, context: GraphqlContext) {
    const { config } = context.app
    return presentPlan(await context.app.deployments.dryRun(deploymentRequest(args.input), context.principal!), {
      limits: config.limits,
      secondsPerClone: config.estimatedSecondsPerClone,
      guestSeconds: config.estimatedGuestSeconds,
    })
  },

  async deployment(_: unknown, args: { id: string }, context: GraphqlContext) {
    const found = isUuid(args.id) ? await context.loaders.deployment.load(args.id.toLowerCase()) : undefined
    if (!found) throw new DeploymentNotFound({ id: args.id }, args.id)
    return found
  },

  async deployments(_: unknown, args: DeploymentsArgs, context: GraphqlContext) {
    const filter: DeploymentFilter = {
      status: fromEnum<DeploymentStatus>(args.filter?.status),
      parent: args.filter?.parent ?? undefined,
      requester: args.filter?.requester ?? undefined,
      ticket: args.filter?.ticket ?? undefined,
      requestId: args.filter?.requestId ?? undefined,
      pool: args.filter?.pool ?? undefined,
      team: args.filter?.team ?? undefined,
      kind: fromEnum<DeploymentKind>(args.filter?.kind),
    }
    const teams = visibleTeams(context.principal!)
    const { deployments } = context.app
    return paginate(args, {
      keyLength: 2,
      read: async (limit, after) => {
        const rows = await deployments.page({ ...filter, teams }, limit, after)
        for (const row of rows) context.loaders.deployment.prime(row.id, row)
        return rows
      },
      cursorKey: deploymentCursorKey,
      count: () => deployments.count({ ...filter, teams }),
    })
  },
}

export const mutations = {
  async deployLinkedClones(_: unknown, args: { input: Record<string, unknown> }, context: GraphqlContext) {
    const request = deploymentRequest(args.input)
    const created = await context.app.deployments.create(request, context.principal!)
    context.app.log.info(
      { deploymentId: created.deployment.id, parent: created.deployment.parentName, count: created.deployment.count },
      'deployment accepted (graphql)',
    )
    context.loaders.deployment.prime(created.deployment.id, created.deployment)
    context.loaders.clonesOfDeployment.prime(created.deployment.id, created.clones)
    return created.deployment
  },
}

export const resolvers = {
  DeploymentPlan: {
    copiedAttributes: (p: PresentedPlan) => p.attributes,
  },
  DeploymentConnection: connectionResolvers,
  Deployment: {
    kind: (d: DeploymentRow) => toEnum(d.kind),
    pool: (d: DeploymentRow) => d.poolName,
    status: (d: DeploymentRow) => toEnum(d.status),
    parent: (d: DeploymentRow) => ({ name: d.parentName, moref: d.parentMoref }),
    snapshot: snapshotOf,
    copiedAttributes: (d: DeploymentRow) => d.copiedAttributes,
    error: (d: DeploymentRow) => d.error ?? null,
    durationSeconds: (d: DeploymentRow) => durationSeconds(d.startedAt, d.finishedAt),
    progress: async (d: DeploymentRow, _: unknown, context: GraphqlContext) =>
      presentProgress(progressFromCounts(await context.loaders.statusCounts.load(d.id))),
    clones: (d: DeploymentRow, _: unknown, context: GraphqlContext) => context.loaders.clonesOfDeployment.load(d.id),
  },
}
