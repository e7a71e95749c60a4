/**
 * Pools: reading them (pools, pool) and changing them as /v1/pools does (createPool, resizePool,
 * stripPool). Every change calls the pool service exactly as the REST route does and answers the pool
 * with the deployments the change started (the Deployment type, as deployment(id) shows them).
 *
 * A new change is one entry in POOL_CHANGES (the service call) plus its SDL line and its scope in
 * auth.ts's ROOT_FIELD_SCOPES; the answer and its errors come from poolChangeMutation.
 */
import type { PoolRow } from './pool-service.js'
import { PoolNotFound } from '../../errors.js'
import type { PoolChange } from './pool-service.js'
import type { GraphqlContext } from '../../graphql/context.js'
import type { TeamMember } from '../../domain/teams.js'
import { changePoolRequest, createPoolRequest, recomposePoolRequest, refreshPoolRequest, ticketRequest } from './pools-schemas.js'
import type { PoolDrift } from '../../domain/drift.js'
import { POOL_DEPLOYMENTS_SHOWN } from '../../graphql/loaders.js'
import { fromEnum, toEnum } from '../../graphql/common.js'
import { PAGE_ARGS, connectionResolvers, connectionTypeDefs, paginateList, type PageArgs } from '../../graphql/connection.js'
import { presentPlan } from '../deployments/deployment-presenters.js'

export const typeDefs = /* GraphQL */ `
  enum PoolStatus {
    ACTIVE
    "Its clones destroyed; its name and numbers can be used again."
    STRIPPED
  }

  "A named desired state of clones of one parent; every change is a deployment."
  type Pool {
    name: String!
    status: PoolStatus!
    "The parent's name."
    parent: String!
    prefix: String!
    startNumber: Int!
    size: Int!
    "Custom attributes copied from the parent; null: the default ones."
    copiedAttributes: [String!]
    "Null: the default (Customisation)."
    customizationAttribute: String
    "Null: the service's default."
    hostLimit: Int
    "When the pool is stripped back; null: never."
    expiresAt: DateTime
    requester: String!
    "The team that owns it."
    team: String!
    createdAt: DateTime!
    updatedAt: DateTime!
    "Its live clones (neither failed nor destroyed), by number."
    clones: [Clone!]!
    "Its latest ${POOL_DEPLOYMENTS_SHOWN} deployments, newest first."
    deployments: [Deployment!]!
    "The parent's snapshot its clones are made from (moved by a recompose); null before its first deployment."
    snapshot: SnapshotRef
    "What the last drift check found; null before the first."
    drift: PoolDrift
  }

  enum DriftKind {
    MISSING
    POWERED_OFF
    RENAMED
    "Its guest customization failed or timed out and its VM is still there: reconcile rebuilds it."
    GUEST_FAILED
    TOO_MANY_HOSTS
    SHORT
  }

  "How the pool's clones in vCenter differ from the records, as GET /v1/pools/{name} shows it."
  type PoolDrift {
    "NONE when vCenter agrees with the records."
    status: String!
    checkedAt: DateTime!
    "Ready clones compared."
    checked: Int!
    "Distinct hosts the clones run on, and the pool's limit."
    hosts: Int!
    hostLimit: Int!
    findings: [DriftFinding!]!
  }

  type DriftFinding {
    kind: DriftKind!
    "The clone; null for the pool's findings (TOO_MANY_HOSTS, SHORT)."
    clone: String
    number: Int
    "What the records say (the name, the host limit, the size), as text."
    expected: String
    "What vCenter says (its name, the power state, the hosts, the live clones), as text."
    actual: String
  }

  "A pool after a change, and the deployments the change started (none when only the expiry changed)."
  type PoolChange {
    pool: Pool!
    deployments: [Deployment!]!
  }

  "The fields, limits and defaults of POST /v1/pools' body."
  input CreatePoolInput {
    "Letters, digits, space, . _ -; up to 80"
    name: String!
    "Name of the parent VM"
    parent: String!
    "The owning team, 1 to 200 characters: required when the caller is in several teams (TEAM_REQUIRED, TEAM_FORBIDDEN); default its only team"
    team: String
    "Default: the parent name's second word"
    prefix: String
    "Default: the lowest number from which every requested name is free (1 for a new prefix; 26 after Capture01..Capture25)"
    startNumber: Int
    "Clones in the pool, 1 to 2000"
    size: Int!
    "Custom attributes to copy from the parent; default the seed's ten"
    attributes: [String!]
    "The parent's attribute naming the customization spec; default Customisation"
    customizationAttribute: String
    "At most this many hosts for the pool's clones"
    hostLimit: Int
    "ISO 8601 date-time in the future: the pool is stripped back then"
    expiresAt: String
    "The parent's snapshot the pool's clones come from, by moref or name (default its current one)"
    snapshot: String
    "External reference recorded on the deployments this causes, 1 to 255 characters, e.g. RITM0012345"
    ticket: String
  }

  "The repairs a reconcile planned."
  type PoolRepairs {
    "Numbers deployed again."
    recreate: [Int!]!
    powerOn: [String!]!
    rename: [String!]!
    "Clones added under the pool's next free numbers."
    add: Int!
  }

  "What reconcilePool found and started, as POST /v1/pools/{name}/reconcile answers."
  type PoolReconcile {
    pool: Pool!
    drift: PoolDrift!
    repairs: PoolRepairs!
    "The repairs' deployments (none when nothing drifted)."
    deployments: [Deployment!]!
  }

  ${connectionTypeDefs('Pool')}

  input PoolFilter {
    status: PoolStatus
    "The parent's name."
    parent: String
  }

  extend type Query {
    "The caller's teams' pools (admin: all), active and stripped, by name; cursors as GET /v1/pools'."
    pools(filter: PoolFilter, ${PAGE_ARGS}): PoolConnection!
    "A pool; POOL_NOT_FOUND when there is none with this name among the caller's teams' pools."
    pool(name: String!): Pool
    "What createPool would deploy, with its checks and refusals, from read-only calls: nothing is recorded or changed."
    planPool(input: CreatePoolInput!): DeploymentPlan!
  }

  extend type Mutation {
    """
    Creates a pool and deploys its clones, as POST /v1/pools: NAME_CONFLICT (the name, or another active
    pool's prefix and numbers), VALIDATION_FAILED, and every refusal of deployLinkedClones.
    """
    createPool(input: CreatePoolInput!): PoolChange!
    """
    Resizes (size 0 to 500: the next free numbers deployed, or the highest destroyed) and/or renews
    (expiresAt, ISO 8601 in the future), as PATCH /v1/pools/{name}: POOL_NOT_FOUND, POOL_BUSY, NAME_CONFLICT,
    VALIDATION_FAILED.
    """
    resizePool(name: String!, size: Int, expiresAt: String, ticket: String): PoolChange!
    "Strips a pool back: destroys its live clones, keeps their records, as DELETE /v1/pools/{name}: POOL_NOT_FOUND, POOL_BUSY."
    stripPool(name: String!, ticket: String): PoolChange!
    """
    Returns clones to the pool's snapshot (each destroyed and made again under its name), at most
    maxUnavailable (1 to 2000; default a quarter, at least 1) at once, as POST /v1/pools/{name}/refresh;
    clones: names of live clones, default all. POOL_NOT_FOUND, POOL_BUSY, VALIDATION_FAILED, SNAPSHOT_NOT_FOUND.
    """
    refreshPool(name: String!, maxUnavailable: Int, clones: [String!], ticket: String): PoolChange!
    """
    Moves a pool to a snapshot of its parent (moref or name; default the parent's current one) or to
    another parent, rebuilding its clones at most maxUnavailable at once, as POST /v1/pools/{name}/recompose.
    POOL_NOT_FOUND, POOL_BUSY, VALIDATION_FAILED, PARENT_NOT_FOUND, SNAPSHOT_NOT_FOUND, SNAPSHOT_AMBIGUOUS.
    """
    recomposePool(name: String!, snapshot: String, parent: String, maxUnavailable: Int, ticket: String): PoolChange!
    """
    Repairs a pool's drift, as POST /v1/pools/{name}/reconcile: a fresh check, then missing clones deployed
    again, clones powered off or renamed repaired; the ticket (1 to 255 characters) recorded on the repairs'
    deployments. POOL_NOT_FOUND, POOL_BUSY, NAME_CONFLICT, VALIDATION_FAILED.
    """
    reconcilePool(name: String!, ticket: String): PoolReconcile!
  }
`

/** Each pool mutation: the pool service's call, given the field's arguments and the caller (its teams). */
// `any`: each mutation types its own arguments (a narrower type would refuse them as parameters).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PoolChangeCall = (args: any, caller: TeamMember, context: GraphqlContext) => Promise<PoolChange>

// Each takes the ticket as REST does (validated with the other fields, then handed apart).
type Ticket = { ticket?: string | null }
export const POOL_CHANGES = {
  createPool: (args: { input: Record<string, unknown> }, caller, context) => {
    const { ticket, ...request } = createPoolRequest(args.input)
    return context.app.pools.create(request, caller, ticket)
  },
  resizePool: ({ name, ...args }: { name: string; size?: number | null; expiresAt?: string | null } & Ticket, caller, context) => {
    const { ticket, ...request } = changePoolRequest(args)
    return context.app.pools.change(name, request, caller, ticket)
  },
  stripPool: ({ name, ...args }: { name: string } & Ticket, caller, context) => context.app.pools.strip(name, caller, ticketRequest(args).ticket),
  refreshPool: ({ name, ...args }: { name: string; maxUnavailable?: number | null; clones?: string[] | null } & Ticket, caller, context) => {
    const { ticket, ...request } = refreshPoolRequest(args)
    return context.app.pools.refresh(name, request, caller, ticket)
  },
  recomposePool: (
    { name, ...args }: { name: string; snapshot?: string | null; parent?: string | null; maxUnavailable?: number | null } & Ticket,
    caller,
    context,
  ) => {
    const { ticket, ...request } = recomposePoolRequest(args)
    return context.app.pools.recompose(name, request, caller, ticket)
  },
} satisfies Record<string, PoolChangeCall>

/** A pool service call as a mutation: its change's pool, and its deployments read through the loaders. */
function poolChangeMutation(call: PoolChangeCall) {
  return async (_: unknown, args: Record<string, unknown>, context: GraphqlContext) => {
    const change = await call(args, context.principal!, context)
    context.app.log.info({ pool: change.pool.name, deploymentIds: change.deploymentIds }, 'pool changed (graphql)')
    context.loaders.liveClonesOfPool.clear(change.pool.id)
    context.loaders.deploymentsOfPool.clear(change.pool.id)
    return { pool: change.pool, deploymentIds: change.deploymentIds }
  }
}

export const mutations = {
  ...Object.fromEntries(Object.entries(POOL_CHANGES).map(([field, call]) => [field, poolChangeMutation(call as PoolChangeCall)])),

  /** As POST /v1/pools/{name}/reconcile: the same service call; the pool and the repairs' deployments read through the loaders. */
  async reconcilePool(_: unknown, { name, ...args }: { name: string } & Ticket, context: GraphqlContext) {
    const { ticket } = ticketRequest(args)
    const outcome = await context.app.reconciler.reconcile(name, context.principal!, ticket)
    const pool = await context.app.pools.find(name, context.principal!)
    if (!pool) throw new PoolNotFound({ pool: name }, name)
    context.loaders.liveClonesOfPool.clear(pool.id)
    context.loaders.deploymentsOfPool.clear(pool.id)
    return { pool, drift: outcome.drift, repairs: outcome.repairs, deploymentIds: outcome.deploymentIds }
  },
}

export const queries = {
  async pools(_: unknown, args: PageArgs & { filter?: { status?: string | null; parent?: string | null } | null }, context: GraphqlContext) {
    const status = fromEnum<string>(args.filter?.status)
    const parent = args.filter?.parent ?? undefined
    // As GET /v1/pools: the caller's teams' pools, by name, paged after the last name shown.
    const all = (await context.app.pools.list(context.principal!)).filter(
      (p) => (status === undefined || p.status === status) && (parent === undefined || p.parentName === parent),
    )
    return paginateList(args, all, (p) => [p.name], 1)
  },

  async pool(_: unknown, args: { name: string }, context: GraphqlContext) {
    const pool = await context.app.pools.find(args.name, context.principal!)
    if (!pool) throw new PoolNotFound({ pool: args.name }, args.name)
    return pool
  },

  /** As planLinkedClones, for a pool: createPool's checks (the name, other pools' numbers too), nothing changed. */
  async planPool(_: unknown, args: { input: Record<string, unknown> }, context: GraphqlContext) {
    const { config } = context.app
    return presentPlan(await context.app.pools.plan(createPoolRequest(args.input), context.principal!), {
      limits: config.limits,
      secondsPerClone: config.estimatedSecondsPerClone,
      guestSeconds: config.estimatedGuestSeconds,
    })
  },
}

export const resolvers = {
  PoolConnection: connectionResolvers,
  Pool: {
    status: (p: PoolRow) => toEnum(p.status),
    parent: (p: PoolRow) => p.parentName,
    clones: (p: PoolRow, _: unknown, context: GraphqlContext) => context.loaders.liveClonesOfPool.load(p.id),
    deployments: (p: PoolRow, _: unknown, context: GraphqlContext) => context.loaders.deploymentsOfPool.load(p.id),
    snapshot: (p: PoolRow) => (p.snapshotMoref ? { name: p.snapshotName, moref: p.snapshotMoref } : null),
    drift: (p: PoolRow) => p.drift && presentDrift(p.drift),
  },
  PoolReconcile: {
    drift: (r: { drift: PoolDrift }) => presentDrift(r.drift),
    // The repairs' deployments, as a change's (committed by the reconciler).
    deployments: (r: { deploymentIds: string[] }, args: unknown, context: GraphqlContext) => changeDeployments(r, args, context),
  },
  PoolChange: {
    deployments: changeDeployments,
  },
}

async function changeDeployments(change: { deploymentIds: string[] }, _: unknown, context: GraphqlContext) {
  const found = await context.loaders.deployment.loadMany(change.deploymentIds)
  // The deployments were just committed by the service: a missing one is a broken invariant.
  return found.map((d, i) => {
    if (!d || d instanceof Error) throw d instanceof Error ? d : new Error(`deployment ${change.deploymentIds[i]} not found`)
    return d
  })
}

/** A drift as the PoolDrift type shows it (enum values upper case, the findings' values as text). */
function presentDrift(drift: PoolDrift) {
  return {
    ...drift,
    status: toEnum(drift.status),
    findings: drift.findings.map((f) => ({
      ...f,
      kind: toEnum(f.kind),
      expected: f.expected === undefined ? null : String(f.expected),
      actual: f.actual === undefined ? null : String(f.actual),
    })),
  }
}
