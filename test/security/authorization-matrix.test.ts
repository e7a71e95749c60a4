/**
 * The authorization matrix of issue #13: every documented /v1 REST operation (read from the served
 * /openapi.json) and every GraphQL root field (read from the served schema and ROOT_FIELD_SCOPES) is
 * called, on one lab where team red owns a deployment, two pools, a preparation of a parent and a
 * webhook subscription, by
 *   - a caller of another team (bob, team blue): red's object answers 404 with the module's NOT_FOUND
 *     code, lists and shared reads show nothing of red's, creating for team red is 403 TEAM_FORBIDDEN,
 *     and a refused write changes nothing in the database or in vCenter;
 *   - a member of red whose token lacks the operation's scope: 403 FORBIDDEN naming that scope, and
 *     nothing changed;
 *   - the owner (alice, team red): it works. The owner's destructive calls run last, in a fixed order.
 * An operation or root field without an entry in the tables below fails the test: a new one must say
 * how it is authorized here.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildSchema, type GraphQLObjectType } from 'graphql'
import t, { type Test } from 'tap'
import { ROOT_FIELD_SCOPES } from '../../src/graphql/auth.js'
import type { VimClient } from '../../src/vim25/index.js'
import { WsClient, listen, type GraphqlResponse } from '../helpers/graphql.js'
import { connectToSimulator, startTestService, type TestService } from '../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const FULL = 'deployments:read deployments:write parents:write secrets:read secrets:write'

type Scope = 'deployments:read' | 'deployments:write' | 'parents:write' | 'admin'
type Who = 'other' | 'lacking' | 'owner' | 'admin'

/** What the tests set up for team red, and what the owner's calls add to it. */
interface Fixture {
  deploymentId: string
  clone: string
  pool: string
  /** Red's second pool: the one strip backs aim at, so a strip that wrongly succeeds spares `pool`. */
  stripPool: string
  preparationId: string
  /** Snapshots red's preparations took of PACKAGING before the one red's pools use: removal aims at the first, revert at the second. */
  snapshot: string
  revertSnapshot: string
  /** The owner's own targets, chosen before its destructive calls among the snapshots no live clone uses. */
  ownerRevert?: string
  ownerRemove?: string
  webhookId: string
  deliveryId: string
}

/**
 * How another team's caller is answered:
 * - object: red's object is 404 with `notFound`, as if it did not exist;
 * - list: 200, with nothing of red's in it (the owner's answer has red's object);
 * - shared: the answer is not a team's object (vCenter's parents, reports, plans): 200, nothing of red's in it;
 * - create: creating with `team: 'red'` is 403 TEAM_FORBIDDEN;
 * - sharedParent: a destructive operation on a parent whose live pool is red's: refused (403 or 409),
 *   the issue names no code for it;
 * - adminOnly: every non-admin is 403 FORBIDDEN, the owner too; admin works.
 */
type Access =
  | { kind: 'object'; notFound: string }
  | { kind: 'list' }
  | { kind: 'shared' }
  | { kind: 'create' }
  | { kind: 'sharedParent' }
  | { kind: 'adminOnly' }

interface Expectation {
  status: number
  /** Something the answer holds (checked on its JSON text), e.g. the id of red's object in a list. */
  includes?: (f: Fixture) => string
  /** The answer's `team` is red's (REST object reads). */
  team?: boolean
  /** After the call (e.g. what the state of the fixture becomes). */
  then?: (body: any, f: Fixture) => void | Promise<void>
}

interface RestEntry {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'
  path: string
  scope: Scope
  access: Access
  /** Changes something: the refused calls are checked to change nothing. */
  write: boolean
  params?: (f: Fixture) => Record<string, string>
  body?: (f: Fixture, team?: string) => unknown
  owner: Expectation
  /** The owner's call destroys or replaces red's objects: run last (DESTRUCTIVE_ORDER). */
  destructive?: boolean
  /** Added by issue #13: not in the contract until its module has it (the matrix says so, and runs it once it is). */
  planned?: boolean
}

interface GqlEntry {
  scope: Scope
  access: Access
  write: boolean
  query: string
  variables?: (f: Fixture, team?: string) => Record<string, unknown>
  owner: Omit<Expectation, 'team' | 'status'>
  destructive?: boolean
  planned?: boolean
}

const withTeam = <T extends object>(body: T, team?: string) => (team ? { ...body, team } : body)

/** Every /v1 operation of the contract, by operationId. */
const REST: Record<string, RestEntry> = {
  // ---- deployments
  createDeployment: {
    method: 'POST', path: '/v1/deployments', scope: 'deployments:write', access: { kind: 'create' }, write: true,
    body: (_f, team) => withTeam({ parent: CAPTURE, count: 1, prefix: 'RedOneR' }, team),
    owner: { status: 202 },
  },
  listDeployments: {
    method: 'GET', path: '/v1/deployments?limit=1000', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    owner: { status: 200, includes: (f) => f.deploymentId },
  },
  getDeployment: {
    method: 'GET', path: '/v1/deployments/{id}', scope: 'deployments:read', access: { kind: 'object', notFound: 'DEPLOYMENT_NOT_FOUND' }, write: false,
    params: (f) => ({ id: f.deploymentId }),
    owner: { status: 200, includes: (f) => f.deploymentId, team: true },
  },
  // ---- clones
  listClones: {
    method: 'GET', path: '/v1/clones?limit=1000', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    owner: { status: 200, includes: (f) => f.clone },
  },
  getClone: {
    method: 'GET', path: '/v1/clones/{name}', scope: 'deployments:read', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: false,
    params: (f) => ({ name: f.clone }),
    owner: { status: 200, includes: (f) => f.clone, team: true },
  },
  setCloneAttributes: {
    method: 'PATCH', path: '/v1/clones/{name}/attributes', scope: 'deployments:write', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.clone }),
    body: () => ({ attributes: { MatrixOwner: 'alice' } }),
    owner: { status: 200, includes: () => 'MatrixOwner' },
  },
  getCloneHistory: {
    method: 'GET', path: '/v1/clones/{name}/history', scope: 'deployments:read', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: false,
    params: (f) => ({ name: f.clone }),
    owner: { status: 200 },
  },
  // ---- reports: vCenter's space, measured per parent
  forecastSpace: {
    method: 'POST', path: '/v1/reports/space/forecast', scope: 'deployments:read', access: { kind: 'shared' }, write: false,
    body: () => ({ groups: [{ name: 'Capture', count: 25, provisionedGB: 27, usedGB: 9.55, deltaGB: 0.4 }] }),
    owner: { status: 200 },
  },
  getSpaceReport: {
    method: 'GET', path: '/v1/reports/space', scope: 'deployments:read', access: { kind: 'shared' }, write: false,
    owner: { status: 200 },
  },
  getSpaceChart: {
    method: 'GET', path: '/v1/reports/space.svg', scope: 'deployments:read', access: { kind: 'shared' }, write: false,
    owner: { status: 200 },
  },
  // ---- pools
  createPool: {
    method: 'POST', path: '/v1/pools', scope: 'deployments:write', access: { kind: 'create' }, write: true,
    body: (_f, team) => withTeam({ name: 'redpool-r', parent: CAPTURE, prefix: 'RedPoolR', size: 1 }, team),
    owner: { status: 202 },
  },
  listPools: {
    method: 'GET', path: '/v1/pools?limit=1000', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    owner: { status: 200, includes: (f) => f.pool },
  },
  getPool: {
    method: 'GET', path: '/v1/pools/{name}', scope: 'deployments:read', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: false,
    params: (f) => ({ name: f.pool }),
    owner: { status: 200, includes: (f) => f.pool, team: true },
  },
  changePool: {
    method: 'PATCH', path: '/v1/pools/{name}', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.pool }),
    // A renewal: no deployment, so a wrongly accepted one leaves the pool free for the next cases.
    body: () => ({ expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString() }),
    owner: { status: 200 },
  },
  stripPool: {
    method: 'DELETE', path: '/v1/pools/{name}', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.stripPool }),
    owner: { status: 202 },
    destructive: true,
  },
  refreshPool: {
    method: 'POST', path: '/v1/pools/{name}/refresh', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.pool }),
    body: () => ({ maxUnavailable: 1 }),
    owner: { status: 202 },
    destructive: true,
  },
  recomposePool: {
    method: 'POST', path: '/v1/pools/{name}/recompose', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.pool }),
    body: () => ({ maxUnavailable: 1 }),
    owner: { status: 202 },
    destructive: true,
  },
  checkPoolDrift: {
    method: 'POST', path: '/v1/pools/{name}/drift', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.pool }),
    owner: { status: 200 },
  },
  reconcilePool: {
    method: 'POST', path: '/v1/pools/{name}/reconcile', scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    params: (f) => ({ name: f.pool }),
    owner: { status: 200 },
  },
  // ---- parents: the VMs are vCenter's; preparations are a team's; destructive calls need parents:write
  prepareParent: {
    method: 'POST', path: '/v1/parents/{name}/prepare', scope: 'parents:write', access: { kind: 'sharedParent' }, write: true,
    params: () => ({ name: PACKAGING }),
    // recompose: red's live pools use an older snapshot, and without it any caller is refused PARENT_IN_USE.
    // Each call its own snapshot name: a repeated name answers the earlier preparation.
    body: () => ({ snapshotName: `Matrix snapshot ${++snapshotNames}`, recompose: true }),
    owner: {
      status: 202,
      then: async (body) => {
        const done = await waitForPreparation(`/v1/parents/${enc(PACKAGING)}/preparations/${body.id}`)
        if (done.status !== 'succeeded') throw new Error(`the owner's preparation: ${JSON.stringify(done)}`)
      },
    },
    destructive: true,
  },
  listPreparations: {
    method: 'GET', path: '/v1/parents/{name}/preparations', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    params: () => ({ name: PACKAGING }),
    owner: { status: 200, includes: (f) => f.preparationId },
  },
  getPreparation: {
    method: 'GET', path: '/v1/parents/{name}/preparations/{id}', scope: 'deployments:read', access: { kind: 'object', notFound: 'PREPARATION_NOT_FOUND' }, write: false,
    params: (f) => ({ name: PACKAGING, id: f.preparationId }),
    owner: { status: 200, includes: (f) => f.preparationId, team: true },
  },
  listSnapshots: {
    method: 'GET', path: '/v1/parents/{name}/snapshots', scope: 'deployments:read', access: { kind: 'shared' }, write: false,
    params: () => ({ name: PACKAGING }),
    owner: { status: 200, includes: (f) => f.snapshot },
  },
  removeSnapshot: {
    method: 'DELETE', path: '/v1/parents/{name}/snapshots/{snapshot}', scope: 'parents:write', access: { kind: 'sharedParent' }, write: true,
    params: (f) => ({ name: PACKAGING, snapshot: ownerPhase ? f.ownerRemove! : f.snapshot }),
    owner: { status: 200 },
    destructive: true,
  },
  revertSnapshot: {
    method: 'POST', path: '/v1/parents/{name}/snapshots/{snapshot}/revert', scope: 'parents:write', access: { kind: 'sharedParent' }, write: true,
    params: (f) => ({ name: PACKAGING, snapshot: ownerPhase ? f.ownerRevert! : f.revertSnapshot }),
    owner: { status: 200 },
    destructive: true,
  },
  // ---- webhooks
  createWebhook: {
    method: 'POST', path: '/v1/webhooks', scope: 'deployments:write', access: { kind: 'create' }, write: true,
    body: (_f, team) => withTeam({ url: `${receiverBase}/red-hook-2`, events: ['deployment.failed'] }, team),
    owner: { status: 201 },
  },
  listWebhooks: {
    method: 'GET', path: '/v1/webhooks?limit=100', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    owner: { status: 200, includes: (f) => f.webhookId },
  },
  getWebhook: {
    method: 'GET', path: '/v1/webhooks/{id}', scope: 'deployments:read', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: false,
    params: (f) => ({ id: f.webhookId }),
    owner: { status: 200, includes: (f) => f.webhookId, team: true },
  },
  updateWebhook: {
    method: 'PATCH', path: '/v1/webhooks/{id}', scope: 'deployments:write', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: true,
    params: (f) => ({ id: f.webhookId }),
    body: () => ({ description: 'changed by the matrix' }),
    owner: { status: 200, includes: () => 'changed by the matrix' },
  },
  deleteWebhook: {
    method: 'DELETE', path: '/v1/webhooks/{id}', scope: 'deployments:write', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: true,
    params: (f) => ({ id: f.webhookId }),
    owner: { status: 204 },
    destructive: true,
  },
  rotateWebhookSecret: {
    method: 'POST', path: '/v1/webhooks/{id}/rotate-secret', scope: 'deployments:write', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: true,
    params: (f) => ({ id: f.webhookId }),
    owner: { status: 200 },
  },
  testWebhook: {
    method: 'POST', path: '/v1/webhooks/{id}/test', scope: 'deployments:write', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: true,
    params: (f) => ({ id: f.webhookId }),
    owner: { status: 202 },
  },
  listWebhookDeliveries: {
    method: 'GET', path: '/v1/webhooks/{id}/deliveries', scope: 'deployments:read', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: false,
    params: (f) => ({ id: f.webhookId }),
    owner: { status: 200, includes: (f) => f.deliveryId },
  },
  retryWebhookDelivery: {
    method: 'POST', path: '/v1/webhooks/{id}/deliveries/{delivery}/retry', scope: 'deployments:write', access: { kind: 'object', notFound: 'WEBHOOK_NOT_FOUND' }, write: true,
    params: (f) => ({ id: f.webhookId, delivery: f.deliveryId }),
    owner: { status: 202 },
  },
  // ---- teams and audit (issue #13): admin's
  getTeam: {
    method: 'GET', path: '/v1/teams/{team}', scope: 'deployments:read', access: { kind: 'object', notFound: 'TEAM_NOT_FOUND' }, write: false,
    params: () => ({ team: 'red' }),
    owner: { status: 200, includes: () => 'red' },
    planned: true,
  },
  setTeamQuota: {
    method: 'PUT', path: '/v1/teams/{team}/quota', scope: 'admin', access: { kind: 'adminOnly' }, write: true,
    params: () => ({ team: 'red' }),
    body: () => ({ maxClones: 500, maxProvisionedGB: 100_000 }),
    owner: { status: 200 },
    planned: true,
  },
  listTeams: {
    method: 'GET', path: '/v1/teams', scope: 'deployments:read', access: { kind: 'list' }, write: false,
    owner: { status: 200, includes: () => '"red"' },
  },
  listAuditEvents: {
    method: 'GET', path: '/v1/audit', scope: 'admin', access: { kind: 'adminOnly' }, write: false,
    owner: { status: 200 },
    planned: true,
  },
}

const DEPLOYMENT_FIELDS = 'id status'
/** Every GraphQL root field, as `Type.field`. */
const GQL: Record<string, GqlEntry> = {
  'Query.deployment': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'DEPLOYMENT_NOT_FOUND' }, write: false,
    query: `query($id: ID!) { deployment(id: $id) { ${DEPLOYMENT_FIELDS} } }`,
    variables: (f) => ({ id: f.deploymentId }),
    owner: { includes: (f) => f.deploymentId },
  },
  'Query.deployments': {
    scope: 'deployments:read', access: { kind: 'list' }, write: false,
    query: `{ deployments(limit: 1000) { nodes { ${DEPLOYMENT_FIELDS} } } }`,
    owner: { includes: (f) => f.deploymentId },
  },
  'Query.clone': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: false,
    query: `query($name: String!) { clone(name: $name) { name } }`,
    variables: (f) => ({ name: f.clone }),
    owner: { includes: (f) => f.clone },
  },
  'Query.clones': {
    scope: 'deployments:read', access: { kind: 'list' }, write: false,
    query: `{ clones(limit: 1000) { nodes { name } } }`,
    owner: { includes: (f) => f.clone },
  },
  'Query.cloneHistory': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: false,
    query: `query($name: String!) { cloneHistory(name: $name) { totalCount } }`,
    variables: (f) => ({ name: f.clone }),
    owner: {},
  },
  'Query.parents': {
    // vCenter's VMs are shared; the clones listed under each are a team's.
    scope: 'deployments:read', access: { kind: 'shared' }, write: false,
    query: `{ parents(limit: 20) { nodes { name clones(limit: 1000) { nodes { name } } } } }`,
    owner: { includes: (f) => f.clone },
  },
  'Query.pools': {
    scope: 'deployments:read', access: { kind: 'list' }, write: false,
    query: `{ pools(limit: 1000) { nodes { name } } }`,
    owner: { includes: (f) => f.pool },
  },
  'Query.pool': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: false,
    query: `query($name: String!) { pool(name: $name) { name } }`,
    variables: (f) => ({ name: f.pool }),
    owner: { includes: (f) => f.pool },
  },
  'Query.planLinkedClones': {
    scope: 'deployments:write', access: { kind: 'shared' }, write: false,
    query: `query($input: DeployLinkedClonesInput!) { planLinkedClones(input: $input) { dryRun clones { name } } }`,
    variables: () => ({ input: { parent: CAPTURE, count: 1, prefix: 'PlanOne' } }),
    owner: { includes: () => 'PlanOne' },
  },
  'Query.planPool': {
    scope: 'deployments:write', access: { kind: 'shared' }, write: false,
    query: `query($input: CreatePoolInput!) { planPool(input: $input) { dryRun clones { name } } }`,
    variables: () => ({ input: { name: 'plan-pool', parent: CAPTURE, prefix: 'PlanPool', size: 1 } }),
    owner: { includes: () => 'PlanPool' },
  },
  'Query.team': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'TEAM_NOT_FOUND' }, write: false,
    query: `{ team(name: "red") { name quota { maxClones } } }`,
    owner: { includes: () => '"red"' },
  },
  'Mutation.setTeamQuota': {
    scope: 'admin', access: { kind: 'adminOnly' }, write: true,
    query: `mutation { setTeamQuota(team: "red", maxClones: 500, maxProvisionedGB: 100000) { name } }`,
    owner: {},
  },
  'Query.auditEvents': {
    scope: 'admin', access: { kind: 'adminOnly' }, write: false,
    query: `{ auditEvents(limit: 10) { nodes { id } } }`,
    owner: {},
    planned: true,
  },
  'Mutation.deployLinkedClones': {
    scope: 'deployments:write', access: { kind: 'create' }, write: true,
    query: `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ${DEPLOYMENT_FIELDS} } }`,
    variables: (_f, team) => ({ input: withTeam({ parent: CAPTURE, count: 1, prefix: 'RedOneG' }, team) }),
    owner: {},
  },
  'Mutation.setCloneAttributes': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'CLONE_NOT_FOUND' }, write: true,
    query: `mutation($clone: String!) { setCloneAttributes(clone: $clone, attributes: [{ name: "MatrixOwner", value: "alice over GraphQL" }]) { changed } }`,
    variables: (f) => ({ clone: f.clone }),
    owner: { includes: () => 'MatrixOwner' },
  },
  'Mutation.createPool': {
    scope: 'deployments:write', access: { kind: 'create' }, write: true,
    query: `mutation($input: CreatePoolInput!) { createPool(input: $input) { pool { name } deployments { id } } }`,
    variables: (_f, team) => ({ input: withTeam({ name: 'redpool-g', parent: CAPTURE, prefix: 'RedPoolG', size: 1 }, team) }),
    owner: { includes: () => 'redpool-g' },
  },
  'Mutation.resizePool': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    query: `mutation($name: String!, $expiresAt: String) { resizePool(name: $name, expiresAt: $expiresAt) { pool { name } } }`,
    variables: (f) => ({ name: f.pool, expiresAt: new Date(Date.now() + 8 * 86_400_000).toISOString() }),
    owner: { includes: (f) => f.pool },
  },
  'Mutation.stripPool': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    // The owner's REST strip back took stripPool; this one strips the pool the owner's createPool made.
    query: `mutation($name: String!) { stripPool(name: $name) { pool { name } deployments { id } } }`,
    variables: (f) => ({ name: ownerPhase ? 'redpool-g' : f.stripPool }),
    owner: { includes: () => 'redpool-g' },
    destructive: true,
  },
  'Mutation.refreshPool': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    query: `mutation($name: String!) { refreshPool(name: $name, maxUnavailable: 1) { pool { name } deployments { id } } }`,
    variables: (f) => ({ name: f.pool }),
    owner: { includes: (f) => f.pool },
    destructive: true,
  },
  'Mutation.recomposePool': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    query: `mutation($name: String!) { recomposePool(name: $name, maxUnavailable: 1) { pool { name } deployments { id } } }`,
    variables: (f) => ({ name: f.pool }),
    owner: { includes: (f) => f.pool },
    destructive: true,
  },
  'Mutation.reconcilePool': {
    scope: 'deployments:write', access: { kind: 'object', notFound: 'POOL_NOT_FOUND' }, write: true,
    query: `mutation($name: String!) { reconcilePool(name: $name, ticket: "RITM-MATRIX") { pool { name } deployments { id } } }`,
    variables: (f) => ({ name: f.pool }),
    owner: { includes: (f) => f.pool },
  },
  'Subscription.deploymentProgress': {
    scope: 'deployments:read', access: { kind: 'object', notFound: 'DEPLOYMENT_NOT_FOUND' }, write: false,
    query: `subscription($id: ID!) { deploymentProgress(id: $id) { kind deploymentId } }`,
    variables: (f) => ({ id: f.deploymentId }),
    owner: { includes: (f) => f.deploymentId },
  },
}

/** The owner's destructive calls, in this order, after every other case. */
const DESTRUCTIVE_ORDER = [
  'rest:refreshPool',
  'gql:Mutation.refreshPool',
  'rest:recomposePool',
  'gql:Mutation.recomposePool',
  'rest:revertSnapshot',
  // A preparation (recompose: true) moves red's pools onto a new snapshot, branching from the one
  // reverted to: the pools' former snapshot is then a leaf no clone uses, which the removal takes.
  'rest:prepareParent',
  'rest:removeSnapshot',
  'rest:stripPool',
  'gql:Mutation.stripPool',
  'rest:deleteWebhook',
]

// ---------------------------------------------------------------------------------------------------

// One lab for ~90 cases (over 6 minutes on a loaded machine): more than .taprc's 600 s per file.
t.setTimeout(1_200_000)

let service: TestService
let vc: VimClient
let receiver: http.Server
let receiverBase = ''
let wsUrl = ''
let ownerPhase = false
let snapshotNames = 0
const fixture = {} as Fixture
let contractOps = new Map<string, { method: string; path: string }>()
let schemaFields = new Set<string>()

const enc = encodeURIComponent
const auth = {
  owner: () => service.auth(FULL, 'alice', ['red']),
  other: () => service.auth(FULL, 'bob', ['blue']),
  /** A member of red whose token lacks `scope`: the nearest token below it. */
  lacking: (scope: Scope) => service.auth(LACKING[scope], 'carol', ['red']),
  admin: () => service.auth('admin', 'root'),
}
const LACKING: Record<Scope, string> = {
  'deployments:read': 'metrics:read',
  'deployments:write': 'deployments:read',
  'parents:write': 'deployments:read deployments:write secrets:read secrets:write',
  admin: FULL,
}

/** What another team's caller must never see of red's. */
const redMarkers = (f: Fixture) => ['redone', 'redpool', 'red-hook', f.deploymentId, f.preparationId, f.webhookId].map((m) => m.toLowerCase())
const leaks = (text: string, f: Fixture) => redMarkers(f).filter((m) => text.toLowerCase().includes(m))

async function sql<T = Record<string, any>>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await service.app.database.pool.query(text, values)).rows as T[]
}

/** Waits until no deployment or preparation runs and no webhook delivery waits. */
async function settle(timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [busy] = await sql<{ n: number }>(
      `SELECT (SELECT count(*) FROM deployments WHERE status NOT IN ('succeeded', 'failed'))
            + (SELECT count(*) FROM parent_preparations WHERE status NOT IN ('succeeded', 'failed'))
            + (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS n`,
    )
    if (Number(busy!.n) === 0) return
    if (Date.now() > deadline) throw new Error(`still ${busy!.n} deployments, preparations or deliveries unfinished`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function waitForPreparation(location: string, timeoutMs = 120_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const body = (await service.app.inject({ method: 'GET', url: location, headers: auth.admin() })).json()
    if (body.status === 'succeeded' || body.status === 'failed') return body
    if (Date.now() > deadline) throw new Error(`preparation still ${body.status}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The records the refused calls must leave alone: each table's rows, hashed (audit_events excluded: refusals are recorded). */
// webhook_deliveries are left out: they follow from events (watched) by a fan-out job that may still
// be catching up on an earlier, legitimate event when a refused call is made.
const WATCHED_TABLES = [
  'deployments', 'clones', 'clone_steps', 'clone_attributes', 'attribute_history', 'pools', 'parent_preparations',
  'webhook_subscriptions', 'webhook_events', 'team_quotas',
]
async function databaseState(): Promise<Record<string, string>> {
  const state: Record<string, string> = {}
  for (const table of WATCHED_TABLES) {
    const [row] = await sql<{ n: number; h: string }>(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM ${table} t`)
    state[table] = `${row!.n} rows, ${row!.h}`
  }
  return state
}

/** Every VM's power state, snapshots and custom values, by name. */
async function vcenterState(): Promise<Record<string, string>> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState', 'snapshot', 'customValue'])
  const state: Record<string, string> = {}
  for (const o of all) {
    const name = String(o.props.name)
    state[`${name} ${o.obj.value}`] = JSON.stringify([o.props['runtime.powerState'], o.props.snapshot ?? null, o.props.customValue ?? null])
  }
  return state
}

async function unchanged(t: Test, call: () => Promise<void>): Promise<void> {
  await settle()
  const [db, vm] = [await databaseState(), await vcenterState()]
  await call()
  // A wrongly accepted call may have started work: let it finish, so what it did shows.
  await settle()
  t.same(await databaseState(), db, 'nothing changed in the database')
  t.same(await vcenterState(), vm, 'nothing changed in vCenter')
}

// ---- callers ------------------------------------------------------------------------------------

function restUrl(entry: RestEntry): string {
  const params = entry.params?.(fixture) ?? {}
  return entry.path.replace(/\{(\w+)\}/g, (_, key: string) => {
    if (params[key] === undefined) throw new Error(`${entry.path}: no value for ${key}`)
    return enc(params[key]!)
  })
}

function callRest(entry: RestEntry, headers: Record<string, string>, team?: string) {
  const body = entry.body?.(fixture, team)
  return service.app.inject({ method: entry.method, url: restUrl(entry), headers, ...(body === undefined ? {} : { payload: body as object }) })
}

async function callGql(entry: GqlEntry, field: string, authorization: { authorization: string }, team?: string): Promise<GraphqlResponse> {
  const variables = entry.variables?.(fixture, team) ?? {}
  if (field.startsWith('Subscription.')) return subscribe(entry.query, variables, authorization.authorization)
  const res = await service.app.inject({ method: 'POST', url: '/graphql', headers: authorization, payload: { query: entry.query, variables } })
  return { statusCode: res.statusCode, body: res.json() }
}

/** A subscription over a WebSocket, to its first error or its end: its events as `data`, its error as `errors`. */
async function subscribe(query: string, variables: Record<string, unknown>, authorization: string): Promise<GraphqlResponse> {
  const client = await WsClient.connect(wsUrl)
  try {
    client.send({ type: 'connection_init', payload: { authorization } })
    await client.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
    client.send({ type: 'subscribe', id: '1', payload: { query, variables } })
    const messages = await client.until((m) => m.some((x) => x.id === '1' && (x.type === 'error' || x.type === 'complete')), 60_000)
    const error = messages.find((x) => x.id === '1' && x.type === 'error')
    const events = messages.filter((x) => x.id === '1' && x.type === 'next').map((x) => x.payload)
    const eventErrors = events.flatMap((e) => e.errors ?? [])
    return {
      statusCode: 200,
      body: {
        data: events.length ? { deploymentProgress: events.map((e) => e.data?.deploymentProgress) } : null,
        ...(error ? { errors: error.payload } : eventErrors.length ? { errors: eventErrors } : {}),
      },
    }
  } finally {
    client.close()
  }
}

const errorCodes = (res: GraphqlResponse) => (res.body.errors ?? []).map((e) => e.extensions?.code)

// ---- the lab ------------------------------------------------------------------------------------

t.before(async () => {
  receiver = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(204).end())
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  receiverBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  service = await startTestService({ runWorkers: true, env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SECONDS: '1' } })
  vc = await connectToSimulator(service.sim)
  wsUrl = await listen(service.app)

  const owner = auth.owner()
  const post = async (url: string, payload: object, status: number) => {
    const res = await service.app.inject({ method: 'POST', url, headers: owner, payload })
    if (res.statusCode !== status) throw new Error(`fixture: POST ${url} answered ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const prepare = async (snapshotName: string) => {
    const preparation = await post(`/v1/parents/${enc(PACKAGING)}/prepare`, { snapshotName }, 202)
    const prepared = await waitForPreparation(`/v1/parents/${enc(PACKAGING)}/preparations/${preparation.id}`)
    if (prepared.status !== 'succeeded') throw new Error(`fixture: preparation ${JSON.stringify(prepared)}`)
    return { id: preparation.id as string, snapshot: prepared.snapshot.moref as string }
  }
  // Red's preparations of PACKAGING: three snapshots; red's pools use the last, so the first two are
  // free for removal and revert (only the team rule can refuse another team's caller).
  const first = await prepare('Matrix snapshot')
  fixture.preparationId = first.id
  fixture.snapshot = first.snapshot
  fixture.revertSnapshot = (await prepare('Matrix revert target')).snapshot
  await prepare('Matrix pools snapshot')
  // Red's one-off deployment, and two pools of PACKAGING.
  fixture.deploymentId = (await post('/v1/deployments', { parent: CAPTURE, count: 2, prefix: 'RedOne' }, 202)).id
  fixture.clone = 'RedOne01'
  fixture.pool = 'redpool'
  fixture.stripPool = 'redpool-b'
  await post('/v1/pools', { name: fixture.pool, parent: PACKAGING, prefix: 'RedPool', size: 2 }, 202)
  await post('/v1/pools', { name: fixture.stripPool, parent: PACKAGING, prefix: 'RedPoolB', size: 1 }, 202)
  await settle()
  const [failed] = await sql(`SELECT id, error FROM deployments WHERE status = 'failed'`)
  if (failed) throw new Error(`fixture: deployment failed ${JSON.stringify(failed)}`)
  // Red's webhook subscription, with a delivery.
  fixture.webhookId = (await post('/v1/webhooks', { url: `${receiverBase}/red-hook`, events: ['deployment.succeeded'] }, 201)).id
  fixture.deliveryId = (await post(`/v1/webhooks/${fixture.webhookId}/test`, {}, 202)).deliveryId
  await settle()

  contractOps = new Map()
  const contract = (await service.app.inject({ method: 'GET', url: '/openapi.json' })).json()
  for (const [path, ops] of Object.entries(contract.paths as Record<string, Record<string, { operationId: string }>>)) {
    if (!path.startsWith('/v1/')) continue
    for (const [method, op] of Object.entries(ops)) contractOps.set(op.operationId, { method: method.toUpperCase(), path })
  }
  const sdl = await service.app.inject({ method: 'GET', url: '/graphql/schema.graphql', headers: auth.owner() })
  const schema = buildSchema(sdl.body)
  schemaFields = new Set()
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()] as (GraphQLObjectType | null)[]) {
    for (const name of Object.keys(type?.getFields() ?? {})) schemaFields.add(`${type!.name}.${name}`)
  }
})

t.teardown(async () => {
  await vc?.close()
  await service?.stop()
  receiver?.close()
})

// ---- the tables cover the contract --------------------------------------------------------------

const present = (id: string) => contractOps.has(id)
const presentField = (field: string) => schemaFields.has(field)

t.test('every documented /v1 operation and every GraphQL root field has its row in the matrix', async (t) => {
  t.ok(contractOps.size >= 30, `${contractOps.size} operations under /v1 in the served contract`)
  for (const [id, op] of contractOps) {
    const entry = REST[id]
    t.ok(entry, `${op.method} ${op.path} (${id}) has a row in the matrix: say how it is authorized`)
    if (!entry) continue
    t.equal(`${entry.method} ${entry.path.replace(/\?.*$/, '')}`, `${op.method} ${op.path}`, `${id}: the row calls the documented route`)
  }
  for (const [id, entry] of Object.entries(REST)) {
    if (entry.planned && !present(id)) t.comment(`${id} (${entry.method} ${entry.path}) is not in the contract yet (issue #13): its row runs once it is`)
    else t.ok(present(id), `the row ${id} is a documented operation`)
  }
  t.ok(schemaFields.size >= 18, `${schemaFields.size} root fields in the served schema`)
  for (const field of schemaFields) {
    t.ok(GQL[field], `${field} has a row in the matrix`)
    const [type, name] = field.split('.') as [keyof typeof ROOT_FIELD_SCOPES, string]
    const declared = ROOT_FIELD_SCOPES[type]?.[name]
    t.ok(declared, `${field} declares its scope in ROOT_FIELD_SCOPES`)
    if (GQL[field] && declared) t.equal(GQL[field]!.scope, declared, `${field}: the row's scope is the declared one`)
  }
  for (const [field, entry] of Object.entries(GQL)) {
    if (entry.planned && !presentField(field)) t.comment(`${field} is not in the schema yet (issue #13): its row runs once it is`)
    else t.ok(presentField(field), `the row ${field} is a root field of the schema`)
  }
  t.ok(fixture.snapshot && fixture.deliveryId, 'the lab is set up')
})

// ---- the cases ----------------------------------------------------------------------------------

type Case = { key: string; run: (t: Test) => Promise<void> }

function restCases(entry: RestEntry): Record<Who, Case['run'] | undefined> {
  const a = entry.access
  const other: Case['run'] = async (t) => {
    let res!: Awaited<ReturnType<typeof callRest>>
    const call = async () => {
      res = await callRest(entry, auth.other(), a.kind === 'create' ? 'red' : undefined)
    }
    if (entry.write) await unchanged(t, call)
    else await call()
    if (a.kind === 'object') {
      t.equal(res.statusCode, 404, `404 for another team's caller: ${res.body.slice(0, 300)}`)
      t.equal(res.json().code, a.notFound, `the module's own NOT_FOUND code`)
    } else if (a.kind === 'create') {
      t.equal(res.statusCode, 403, `creating for team red: ${res.body.slice(0, 300)}`)
      t.equal(res.json().code, 'TEAM_FORBIDDEN')
    } else if (a.kind === 'sharedParent') {
      t.ok([403, 409].includes(res.statusCode), `refused while red's live pool uses the parent: ${res.statusCode} ${res.body.slice(0, 300)}`)
      // The target is a snapshot no live clone uses: only the team rule may refuse it.
      t.not(res.json().code, 'SNAPSHOT_IN_USE', 'refused for the team rule, not because live clones use the snapshot')
    } else if (a.kind === 'adminOnly') {
      t.equal(res.statusCode, 403, `admin's only: ${res.body.slice(0, 300)}`)
      t.equal(res.json().code, 'FORBIDDEN')
    } else {
      t.equal(res.statusCode, 200, res.body.slice(0, 300))
      t.same(leaks(res.body, fixture), [], 'nothing of red\'s in the answer')
    }
  }
  const lacking: Case['run'] = async (t) => {
    let res!: Awaited<ReturnType<typeof callRest>>
    const call = async () => {
      res = await callRest(entry, auth.lacking(entry.scope))
    }
    if (entry.write) await unchanged(t, call)
    else await call()
    t.equal(res.statusCode, 403, `a token of red without ${entry.scope} (${LACKING[entry.scope]}): ${res.body.slice(0, 300)}`)
    t.match(res.json(), { code: 'FORBIDDEN', details: { required: entry.scope } }, 'FORBIDDEN, naming the scope')
  }
  const owner: Case['run'] = async (t) => {
    const res = await callRest(entry, a.kind === 'adminOnly' ? auth.admin() : auth.owner())
    t.equal(res.statusCode, entry.owner.status, `${a.kind === 'adminOnly' ? 'admin' : 'the owner'}: ${res.body.slice(0, 300)}`)
    if (entry.owner.includes) t.ok(res.body.includes(entry.owner.includes(fixture)), `the answer has ${entry.owner.includes(fixture)}`)
    if (entry.owner.team) t.equal(res.json().team, 'red', 'the answer shows the owning team')
    if (res.statusCode < 300 && entry.owner.then) await entry.owner.then(res.json(), fixture)
    await settle()
  }
  // Admin reads every team's objects.
  const admin: Case['run'] | undefined =
    !entry.write && (a.kind === 'object' || a.kind === 'list')
      ? async (t) => {
          const res = await callRest(entry, auth.admin())
          t.equal(res.statusCode, 200, `admin: ${res.body.slice(0, 300)}`)
          if (entry.owner.includes) t.ok(res.body.includes(entry.owner.includes(fixture)), `admin sees ${entry.owner.includes(fixture)}`)
        }
      : undefined
  return { other, lacking, owner, admin }
}

function gqlCases(field: string, entry: GqlEntry): Record<Who, Case['run'] | undefined> {
  const a = entry.access
  const name = field.split('.')[1]!
  const other: Case['run'] = async (t) => {
    let res!: GraphqlResponse
    const call = async () => {
      res = await callGql(entry, field, auth.other(), a.kind === 'create' ? 'red' : undefined)
    }
    if (entry.write) await unchanged(t, call)
    else await call()
    const text = JSON.stringify(res.body).slice(0, 400)
    if (a.kind === 'object') {
      t.same(errorCodes(res), [a.notFound], `another team's caller: ${a.notFound} (${text})`)
      t.notOk(res.body.data?.[name], 'no data')
    } else if (a.kind === 'create') {
      t.same(errorCodes(res), ['TEAM_FORBIDDEN'], `creating for team red: ${text}`)
    } else if (a.kind === 'adminOnly') {
      t.same(errorCodes(res), ['FORBIDDEN'], `admin's only: ${text}`)
    } else {
      t.same(errorCodes(res), [], `answered: ${text}`)
      t.same(leaks(JSON.stringify(res.body.data ?? null), fixture), [], "nothing of red's in the answer")
    }
  }
  const lacking: Case['run'] = async (t) => {
    let res!: GraphqlResponse
    const call = async () => {
      res = await callGql(entry, field, auth.lacking(entry.scope))
    }
    if (entry.write) await unchanged(t, call)
    else await call()
    t.same(errorCodes(res), ['FORBIDDEN'], `a token of red without ${entry.scope}: ${JSON.stringify(res.body).slice(0, 300)}`)
    t.match(res.body.errors?.[0], { extensions: { details: { required: entry.scope } } }, 'naming the scope')
    t.notOk(res.body.data?.[name], 'no data')
  }
  const owner: Case['run'] = async (t) => {
    const res = await callGql(entry, field, a.kind === 'adminOnly' ? auth.admin() : auth.owner())
    const text = JSON.stringify(res.body)
    t.same(errorCodes(res), [], `${a.kind === 'adminOnly' ? 'admin' : 'the owner'}: ${text.slice(0, 300)}`)
    t.ok(res.body.data?.[name], 'with data')
    if (entry.owner.includes) t.ok(text.includes(entry.owner.includes(fixture)), `the answer has ${entry.owner.includes(fixture)}`)
    if (entry.owner.then) await entry.owner.then(res.body.data, fixture)
    await settle()
  }
  const admin: Case['run'] | undefined =
    !entry.write && (a.kind === 'object' || a.kind === 'list')
      ? async (t) => {
          const res = await callGql(entry, field, auth.admin())
          t.same(errorCodes(res), [], `admin: ${JSON.stringify(res.body).slice(0, 300)}`)
          if (entry.owner.includes) t.ok(JSON.stringify(res.body).includes(entry.owner.includes(fixture)), `admin sees ${entry.owner.includes(fixture)}`)
        }
      : undefined
  return { other, lacking, owner, admin }
}

const rows: { key: string; label: string; cases: Record<Who, Case['run'] | undefined>; destructive: boolean; exists: () => boolean }[] = [
  ...Object.entries(REST).map(([id, entry]) => ({
    key: `rest:${id}`,
    label: `${id} (${entry.method} ${entry.path})`,
    cases: restCases(entry),
    destructive: !!entry.destructive,
    exists: () => present(id),
  })),
  ...Object.entries(GQL).map(([field, entry]) => ({
    key: `gql:${field}`,
    label: `GraphQL ${field}`,
    cases: gqlCases(field, entry),
    destructive: !!entry.destructive,
    exists: () => presentField(field),
  })),
]

const PHASES: { who: Who; title: string }[] = [
  { who: 'other', title: "another team's caller (bob, team blue)" },
  { who: 'lacking', title: 'a member of red without the scope' },
  { who: 'admin', title: 'admin' },
  { who: 'owner', title: 'the owner (alice, team red)' },
]

for (const { who, title } of PHASES) {
  t.test(title, async (t) => {
    ownerPhase = who === 'owner'
    for (const row of rows) {
      const run = row.cases[who]
      if (!run || (who === 'owner' && row.destructive)) continue
      if (!row.exists()) {
        t.comment(`${row.label}: not served yet (issue #13), not run`)
        continue
      }
      await t.test(row.label, run)
    }
  })
}

t.test("the owner's destructive calls, last", async (t) => {
  ownerPhase = true
  const destructive = rows.filter((r) => r.destructive)
  t.same(destructive.map((r) => r.key).sort(), [...DESTRUCTIVE_ORDER].sort(), 'every destructive row has its place in DESTRUCTIVE_ORDER')
  for (const key of DESTRUCTIVE_ORDER) {
    const row = rows.find((r) => r.key === key)!
    if (!row.exists()) continue
    if (key === 'rest:revertSnapshot' || key === 'rest:removeSnapshot') {
      // The owner's revert aims at the first Matrix snapshot (no clone uses it), its removal at the
      // snapshot red's pools used before the preparation moved them (a leaf by then: removing a
      // snapshot merges it into its parent, so one with used descendants is rightly SNAPSHOT_IN_USE).
      await settle()
      const listed = await service.app.inject({ method: 'GET', url: `/v1/parents/${enc(PACKAGING)}/snapshots`, headers: auth.admin() })
      const snapshots = listed.json().snapshots as { moref: string; name: string; liveClones: number; current: boolean }[]
      const wanted = key === 'rest:revertSnapshot' ? 'Matrix snapshot' : 'Matrix pools snapshot'
      const target = snapshots.find((s) => s.name === wanted && s.liveClones === 0 && !s.current)
      t.ok(target, `"${wanted}" of ${PACKAGING}, which no live clone uses: ${listed.body.slice(0, 600)}`)
      if (key === 'rest:revertSnapshot') fixture.ownerRevert = target?.moref
      else fixture.ownerRemove = target?.moref
    }
    await t.test(row.label, row.cases.owner!)
  }
})
