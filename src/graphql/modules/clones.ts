/** Clones: provenance (deployment, parent, snapshot), custom attributes and the steps each went through. */
import type { CloneRow, CloneStepRow, DeploymentRow } from '../../db/schema.js'
import { REDACTED } from '../../domain/attributes.js'
import type { CloneStatus } from '../../domain/progress.js'
import { ValidationFailed } from '../../errors.js'
import { hasScope } from '../../plugins/external/jwt.js'
import { connection, connectionResolvers } from '../connection.js'
import type { GraphqlContext } from '../context.js'
import { decodeCursor, pageSize } from '../pagination.js'
import { cloneCursorKey, countClones, listClones, type CloneFilter } from '../queries.js'
import { fromEnum, toEnum } from './common.js'
import { snapshotOf } from './deployments.js'

export const typeDefs = /* GraphQL */ `
  type Clone {
    id: ID!
    name: String!
    number: Int!
    status: CloneStatus!
    moref: String
    "Chosen before cloning; how the service finds the VM again."
    instanceUuid: String!
    "The host the service placed the clone on."
    host: String
    "The host vCenter last reported the clone on (DRS may move it)."
    reportedHost: String
    error: RecordedError
    createdAt: DateTime!
    readyAt: DateTime
    "When the attribute sync last found the VM gone from vCenter; null while it exists."
    vanishedAt: DateTime
    deployment: Deployment!
    parent: ParentRef!
    snapshot: SnapshotRef!
    attributes: [Attribute!]!
    "Each step as it completed, with its vCenter task."
    steps: [CloneStep!]!
  }

  enum StepOutcome {
    SUCCEEDED
    FAILED
    SKIPPED
  }

  type CloneStep {
    step: CloneStatus!
    outcome: StepOutcome!
    taskMoref: String
    detail: String
    error: RecordedError
    at: DateTime!
  }

  type CloneConnection {
    edges: [CloneEdge!]!
    nodes: [Clone!]!
    pageInfo: PageInfo!
    totalCount: Int!
  }

  type CloneEdge {
    cursor: String!
    node: Clone!
  }

  input AttributeFilter {
    name: String!
    value: String!
  }

  input CloneFilter {
    "Names starting with this."
    prefix: String
    "The parent's name."
    parent: String
    status: CloneStatus
    "Clones with this custom attribute value (secret attributes are encrypted and cannot be searched)."
    attribute: AttributeFilter
  }

  extend type Query {
    "The clone holding this name (the live one, else the latest failed); CLONE_NOT_FOUND when none."
    clone(name: String!): Clone
    "By name; every status unless filtered."
    clones(filter: CloneFilter, first: Int = 100, after: String): CloneConnection!
  }
`

interface ClonesArgs {
  filter?: {
    prefix?: string | null
    parent?: string | null
    status?: string | null
    attribute?: { name: string; value: string } | null
  } | null
  first?: number | null
  after?: string | null
}

export const queries = {
  async clone(_: unknown, args: { name: string }, context: GraphqlContext) {
    const principal = context.principal!
    // As GET /v1/clones/{name}: secrets revealed only with secrets:read, and the reveal recorded.
    const record = await context.app.assets.attributes.getClone(args.name, {
      sub: principal.sub,
      canReadSecrets: hasScope(principal, 'secrets:read'),
    })
    context.loaders.deployment.prime(record.deployment.id, record.deployment)
    context.loaders.attributes.prime(record.clone.id, record.attributes)
    context.loaders.vanishedAt.prime(record.clone.id, record.vanishedAt)
    return record.clone
  },

  async clones(_: unknown, args: ClonesArgs, context: GraphqlContext) {
    const size = pageSize(args.first)
    const after = decodeCursor(args.after, 2)
    const attribute = args.filter?.attribute ?? undefined
    const { store } = context.app.assets
    // As GET /v1/clones?attribute=: a secret is sealed at rest, so no one can search its values.
    if (attribute && store.isSecret(attribute.name)) {
      throw new ValidationFailed(
        { field: 'attribute', name: attribute.name },
        `"${attribute.name}" is a secret attribute: its values are encrypted and cannot be searched`,
      )
    }
    const filter: CloneFilter = {
      prefix: args.filter?.prefix ?? undefined,
      parent: args.filter?.parent ?? undefined,
      status: fromEnum<CloneStatus>(args.filter?.status),
      attributes: attribute ? store.hasValues([attribute]) : undefined,
    }
    const db = context.app.database.db
    const rows = await listClones(db, filter, size + 1, after)
    return connection(rows, size, cloneCursorKey, () => countClones(db, filter))
  },
}

async function deploymentOf(clone: CloneRow, context: GraphqlContext): Promise<DeploymentRow> {
  const deployment = await context.loaders.deployment.load(clone.deploymentId)
  // clones.deployment_id references deployments: a missing row is a broken invariant, not a 404.
  if (!deployment) throw new Error(`clone ${clone.id} has no deployment ${clone.deploymentId}`)
  return deployment
}

export const resolvers = {
  CloneConnection: connectionResolvers,
  Clone: {
    status: (c: CloneRow) => toEnum(c.status),
    host: (c: CloneRow) => c.hostMoref,
    reportedHost: (c: CloneRow) => c.reportedHostMoref,
    error: (c: CloneRow) => c.error ?? null,
    deployment: (c: CloneRow, _: unknown, context: GraphqlContext) => deploymentOf(c, context),
    parent: async (c: CloneRow, _: unknown, context: GraphqlContext) => {
      const d = await deploymentOf(c, context)
      return { name: d.parentName, moref: d.parentMoref }
    },
    snapshot: async (c: CloneRow, _: unknown, context: GraphqlContext) => {
      return snapshotOf(await deploymentOf(c, context))
    },
    // The store redacts secrets for a caller without secrets:read; redacting again costs nothing.
    attributes: async (c: CloneRow, _: unknown, context: GraphqlContext) => {
      const canReadSecrets = hasScope(context.principal, 'secrets:read')
      return (await context.loaders.attributes.load(c.id)).map((a) => (a.secret && !canReadSecrets ? { ...a, value: REDACTED } : a))
    },
    vanishedAt: (c: CloneRow, _: unknown, context: GraphqlContext) => context.loaders.vanishedAt.load(c.id),
    steps: (c: CloneRow, _: unknown, context: GraphqlContext) => context.loaders.steps.load(c.id),
  },
  CloneStep: {
    step: (s: CloneStepRow) => toEnum(s.step),
    outcome: (s: CloneStepRow) => toEnum(s.outcome),
    error: (s: CloneStepRow) => s.error ?? null,
  },
}
