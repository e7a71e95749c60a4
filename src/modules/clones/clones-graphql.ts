/**
 * Clones: provenance (deployment, parent, snapshot), custom attributes, their history and the steps
 * each went through; setCloneAttributes, as PATCH /v1/clones/{name}/attributes.
 */
import type { Caller } from './attribute-service.js'
import type { CloneRow, CloneStepRow, DeploymentRow } from './attribute-service.js'
import { REDACTED } from '../../domain/attributes.js'
import type { CloneStatus } from '../../domain/progress.js'
import { ValidationFailed } from '../../errors.js'
import { hasScope } from '../../http/auth-plugin.js'
import { cloneCaller } from './caller.js'
import { visibleTeams } from '../../domain/teams.js'
import { PAGE_ARGS, connectionResolvers, connectionTypeDefs, paginate, pageRequest, type PageArgs } from '../../graphql/connection.js'
import type { GraphqlContext } from '../../graphql/context.js'
import { historyPageKey, type HistoryRow } from '../../graphql/loaders.js'
import { CLONE_CURSOR_PARTS, cloneCursorKey } from './attribute-service.js'
import { fromEnum, toEnum } from '../../graphql/common.js'
import { snapshotOf } from '../deployments/deployments-graphql.js'

export const typeDefs = /* GraphQL */ `
  type GuestCustomization {
    "succeeded, failed or timeout"
    outcome: String!
    "The event that ended it (CustomizationSucceeded, CustomizationSysprepFailed, ...)."
    eventType: String
    startedAt: DateTime
    endedAt: DateTime
    message: String
  }

  type Guest {
    customization: GuestCustomization
    hostName: String
    ipAddresses: [String!]!
  }

  type Clone {
    id: ID!
    name: String!
    number: Int!
    status: CloneStatus!
    moref: String
    "The team that owns it (its deployment's)."
    team: String!
    "Chosen before cloning; how the service finds the VM again."
    instanceUuid: String!
    "The host the service placed the clone on."
    host: String
    "The host vCenter last reported the clone on (DRS may move it)."
    reportedHost: String
    "Checked after cloning: true when its disks back onto the snapshot, false for a full copy (SILENT_FULL_CLONE); null until checked."
    linked: Boolean
    "The guest after power-on: its customization's outcome, host name and IP addresses; null until known."
    guest: Guest
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
    """
    Every change of its attributes, newest first, as GET /v1/clones/{name}/history: secret values *** without
    secrets:read; with it, each secret shown is recorded as revealed. Older entries: pass nextCursor as cursor.
    """
    history(${PAGE_ARGS}): AttributeHistoryConnection!
  }

  enum HistoryEvent {
    "An attribute's value was set."
    SET
    "A secret's value was shown to actor."
    REVEAL
    "The attribute sync found the VM gone from vCenter."
    VANISHED
    "The attribute sync found it again."
    REAPPEARED
  }

  "Who or what made a change."
  enum HistorySource {
    "The deployment that made the clone (actor: its id) copied the parent's values."
    DEPLOYMENT
    "A user (actor: the token's sub)."
    USER
    "The attribute sync recorded what vCenter holds (actor: attribute-sync)."
    VCENTER
  }

  type AttributeHistoryEntry {
    at: DateTime!
    event: HistoryEvent!
    source: HistorySource!
    "A user's sub, a deployment's id, or attribute-sync."
    actor: String!
    "The deployment, for source DEPLOYMENT."
    deployment: Deployment
    "The attribute; null for events of the whole clone (VANISHED, REAPPEARED)."
    name: String
    secret: Boolean!
    "Null when there was no value; *** for a secret without secrets:read."
    oldValue: String
    newValue: String
  }

  ${connectionTypeDefs('AttributeHistoryEntry', 'AttributeHistory')}

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

  ${connectionTypeDefs('Clone')}

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
    "The clone holding this name (the live one, else the latest failed); CLONE_NOT_FOUND when none (or it is another team's)."
    clone(name: String!): Clone
    "The caller's teams' clones (admin: every team's), by name; every status unless filtered."
    clones(filter: CloneFilter, ${PAGE_ARGS}): CloneConnection!
    "The attribute history of the clone holding this name, as GET /v1/clones/{name}/history; CLONE_NOT_FOUND when none."
    cloneHistory(name: String!, ${PAGE_ARGS}): AttributeHistoryConnection
  }

  input AttributeInput {
    name: String!
    value: String!
  }

  type SetCloneAttributesResult {
    "The attributes whose value changed (a value equal to the current one is no change); a secret given is always listed."
    changed: [String!]!
    "The clone after the change."
    clone: Clone!
  }

  extend type Mutation {
    """
    Sets a clone's custom attributes in vCenter (SetField, creating missing definitions) and in the records
    together, or neither, as PATCH /v1/clones/{name}/attributes: CLONE_NOT_FOUND, CLONE_NOT_READY, CLONE_GONE,
    VALIDATION_FAILED (never echoing a value), VCENTER_REFUSED, VCENTER_UNAVAILABLE; FORBIDDEN without secrets:write
    for a secret attribute.
    """
    setCloneAttributes(clone: String!, attributes: [AttributeInput!]!): SetCloneAttributesResult!
  }
`

interface ClonesArgs extends PageArgs {
  filter?: {
    prefix?: string | null
    parent?: string | null
    status?: string | null
    attribute?: { name: string; value: string } | null
  } | null
}

const callerOf = (context: GraphqlContext): Caller => cloneCaller(context.principal!)

/** The limits of PATCH /v1/clones/{name}/attributes' path and body that GraphQL's types do not carry. */
const MAX_CLONE_NAME_LENGTH = 255
const MAX_ATTRIBUTES_PER_CHANGE = 100

function checkCloneName(name: string): void {
  if (name.length < 1 || name.length > MAX_CLONE_NAME_LENGTH) {
    throw new ValidationFailed({ field: 'clone' }, `"clone" must be 1 to ${MAX_CLONE_NAME_LENGTH} characters`)
  }
}

function checkAttributeList(attributes: readonly { name: string; value: string }[]): void {
  if (attributes.length > MAX_ATTRIBUTES_PER_CHANGE) {
    throw new ValidationFailed({ field: 'attributes' }, `give at most ${MAX_ATTRIBUTES_PER_CHANGE} attributes at once`)
  }
  // REST's body is an object, where a name cannot appear twice; a list could say two things at once.
  const seen = new Set<string>()
  for (const { name } of attributes) {
    if (seen.has(name)) throw new ValidationFailed({ field: 'attributes', name }, `the attribute "${name}" is given twice`)
    seen.add(name)
  }
}

/** A history cursor holds the last entry's seq (pages go newest first: the next one is older). */
function historySeq(after: string[] | undefined, field: string): number | undefined {
  if (!after) return undefined
  const seq = Number(after[0])
  if (!/^\d{1,15}$/.test(after[0]!) || !Number.isSafeInteger(seq)) throw new ValidationFailed({ field }, `"${field}" is not a cursor given by this API`)
  return seq
}

/** A page of a clone's history, read through the loaders: one query for every clone of a list. */
function historyConnection(cloneId: string, args: PageArgs, context: GraphqlContext) {
  const { cursorField } = pageRequest(args)
  return paginate(args, {
    keyLength: 1,
    read: (limit, after) => context.loaders.historyPage.load(historyPageKey(cloneId, historySeq(after, cursorField), limit)),
    cursorKey: (entry: HistoryRow) => [String(entry.seq)],
    count: () => context.loaders.historyCount.load(cloneId),
  })
}

export const queries = {
  async clone(_: unknown, args: { name: string }, context: GraphqlContext) {
    // As GET /v1/clones/{name}: secrets revealed only with secrets:read, and the reveal recorded.
    const record = await context.app.assets.attributes.getClone(args.name, callerOf(context))
    context.loaders.deployment.prime(record.deployment.id, record.deployment)
    context.loaders.attributes.prime(record.clone.id, record.attributes)
    context.loaders.vanishedAt.prime(record.clone.id, record.vanishedAt)
    return record.clone
  },

  async clones(_: unknown, args: ClonesArgs, context: GraphqlContext) {
    const attribute = args.filter?.attribute ?? undefined
    const { attributes } = context.app.assets
    // As GET /v1/clones?attribute=: a secret is sealed at rest, so no one can search its values.
    const filter = attributes.cloneFilter({
      prefix: args.filter?.prefix ?? undefined,
      parent: args.filter?.parent ?? undefined,
      status: fromEnum<CloneStatus>(args.filter?.status),
      attribute: attribute ? { name: attribute.name, value: attribute.value } : undefined,
      teams: visibleTeams(context.principal!),
    })
    const { cursorField } = pageRequest(args)
    return paginate(args, {
      keyLength: CLONE_CURSOR_PARTS,
      read: (limit, after) => attributes.pageClones(filter, limit, after, cursorField),
      cursorKey: cloneCursorKey,
      count: () => attributes.countClones(filter),
    })
  },

  async cloneHistory(_: unknown, args: PageArgs & { name: string }, context: GraphqlContext) {
    // The clone as REST's history finds it; nothing is revealed by finding it.
    const record = await context.app.assets.attributes.getClone(args.name, cloneCaller(context.principal!, { revealSecrets: false }))
    return historyConnection(record.clone.id, args, context)
  },
}

export const mutations = {
  async setCloneAttributes(
    _: unknown,
    args: { clone: string; attributes: { name: string; value: string }[] },
    context: GraphqlContext,
  ) {
    checkCloneName(args.clone)
    checkAttributeList(args.attributes)
    const caller = callerOf(context)
    const { attributes } = context.app.assets
    const changes = await attributes.setAttributes(
      args.clone,
      args.attributes.map(({ name, value }) => ({ name, value })),
      caller,
    )
    // Names only: values (secrets among them) never reach the log.
    context.app.log.info({ clone: args.clone, changed: changes.map((c) => c.name) }, 'attributes set (graphql)')
    // As the REST route: the clone read back for the caller (a reveal recorded when secrets:read shows one).
    const record = await attributes.getClone(args.clone, caller)
    context.loaders.deployment.prime(record.deployment.id, record.deployment)
    context.loaders.attributes.prime(record.clone.id, record.attributes)
    context.loaders.vanishedAt.prime(record.clone.id, record.vanishedAt)
    return { changed: changes.map((c) => c.name), clone: record.clone }
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
    history: (c: CloneRow, args: PageArgs, context: GraphqlContext) => historyConnection(c.id, args, context),
  },
  AttributeHistoryConnection: connectionResolvers,
  AttributeHistoryEntry: {
    event: (e: HistoryRow) => toEnum(e.event),
    source: (e: HistoryRow) => toEnum(e.source),
    deployment: (e: HistoryRow, _: unknown, context: GraphqlContext) =>
      e.deploymentId ? context.loaders.deployment.load(e.deploymentId) : null,
  },
  CloneStep: {
    step: (s: CloneStepRow) => toEnum(s.step),
    outcome: (s: CloneStepRow) => toEnum(s.outcome),
    error: (s: CloneStepRow) => s.error ?? null,
  },
}
