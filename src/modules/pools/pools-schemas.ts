import { Type } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_HOST_LIMIT } from '../../domain/placement.js'
import { MAX_POOL_SIZE } from '../../domain/pool.js'
import { ErrorResponse, Nullable, authErrors, described, locationHeader } from '../../http/common-schemas.js'
import { inputValidator } from '../../http/validation.js'
import { NextCursor, PageQuery, pageHeaders } from '../../http/pagination.js'

const PoolName = Type.String({ minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' })

export const CreatePoolBody = Type.Object(
  {
    name: PoolName,
    parent: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH, description: 'Name of the parent VM' }),
    team: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The owning team: required when the caller is in several teams; default its only team' }),
    ),
    prefix: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH })),
    startNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999, description: 'Default: the lowest number from which every requested name is free (1 for a new prefix; 26 after Capture01..Capture25)' })),
    size: Type.Integer({ description: 'Clones in the pool, 1 to 2000' }),
    attributes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 })),
    customizationAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    hostLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HOST_LIMIT })),
    expiresAt: Type.Optional(Type.String({ description: 'ISO 8601 date-time in the future: the pool is stripped back then' })),
    snapshot: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: "The parent's snapshot the pool's clones come from, by moref or name (default its current snapshot)",
      }),
    ),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false, examples: [{ name: 'wave1', parent: 'Tmpl Capture 1.0', prefix: 'Wave', startNumber: 1, size: 25 }] },
)

export const ChangePoolBody = Type.Object(
  {
    size: Type.Optional(Type.Integer({ description: 'New size, 0 to 2000' })),
    expiresAt: Type.Optional(Type.String({ description: 'New expiry (renew), in the future' })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false, examples: [{ size: 30 }] },
)

export const RefreshPoolBody = Type.Object(
  {
    maxUnavailable: Type.Optional(Type.Integer({ description: 'Clones rebuilt at once, 1 to 2000; default a quarter of them, at least 1' })),
    clones: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH }), { maxItems: MAX_POOL_SIZE, description: 'Only these clones (default: every live clone)' }),
    ),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

export const RecomposePoolBody = Type.Object(
  {
    snapshot: Type.Optional(Type.String({ maxLength: 255, description: "Name of a snapshot of the parent; default its current snapshot" })),
    parent: Type.Optional(Type.String({ maxLength: MAX_VM_NAME_LENGTH, description: "Another parent VM's name; default the pool's parent" })),
    maxUnavailable: Type.Optional(Type.Integer({ description: 'Clones rebuilt at once, 1 to 2000; default a quarter of them, at least 1' })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

/** A write whose only field is its ticket (reconcile; GraphQL's stripPool). */
const TicketBody = Type.Object(
  { ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })) },
  { additionalProperties: false },
)

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) })

const DateTime = Type.String({ format: 'date-time' })

export const Pool = Type.Object(
  {
    name: Type.String({ examples: ['wave1'] }),
    status: Type.Union([Type.Literal('active'), Type.Literal('stripped')]),
    parent: Type.String({ description: "The parent VM's name", examples: ['Tmpl Capture 1.0'] }),
    snapshot: Nullable(
      Type.Object({ name: Nullable(Type.String()), moref: Type.String() }, { description: "The parent's snapshot the clones are made from; null: its current one" }),
    ),
    prefix: Type.String({ examples: ['Wave'] }),
    startNumber: Type.Integer(),
    size: Type.Integer(),
    attributes: Nullable(Type.Array(Type.String(), { description: "Custom attributes copied from the parent; null: the seed's ten" })),
    customizationAttribute: Nullable(Type.String()),
    hostLimit: Nullable(Type.Integer()),
    expiresAt: Nullable(DateTime),
    requester: Type.String(),
    team: Type.String({ description: 'The team that owns it', examples: ['red'] }),
    createdAt: DateTime,
    updatedAt: DateTime,
  },
  { $id: 'Pool' },
)

const DriftFinding = Type.Object({
  kind: Type.Union(
    [Type.Literal('missing'), Type.Literal('powered_off'), Type.Literal('renamed'), Type.Literal('guest_failed'), Type.Literal('too_many_hosts'), Type.Literal('short')],
    { description: "guest_failed: the clone's guest customization failed or timed out and its VM is still there (reconcile rebuilds it)" },
  ),
  clone: Type.Optional(Type.String({ description: "The clone (absent for the pool's own findings: too_many_hosts, short)" })),
  number: Type.Optional(Type.Integer()),
  expected: Type.Optional(Type.Union([Type.String(), Type.Number()], { description: 'What the records say' })),
  actual: Type.Optional(Type.Union([Type.String(), Type.Number()], { description: 'What vCenter says' })),
})

export const PoolDrift = Type.Object(
  {
    status: Type.Union([Type.Literal('none'), Type.Literal('found')], { description: '`none` when vCenter agrees with the records' }),
    checkedAt: DateTime,
    checked: Type.Integer({ description: 'Clones compared' }),
    hosts: Type.Integer({ description: 'Distinct hosts the clones run on' }),
    hostLimit: Type.Integer(),
    findings: Type.Array(DriftFinding),
  },
  { $id: 'PoolDrift' },
)

export const PoolDetail = Type.Object(
  {
    ...Pool.properties,
    drift: Nullable(PoolDrift, { description: 'The last drift check; null before the first' }),
    clones: Type.Array(
      Type.Object({ name: Type.String(), number: Type.Integer(), status: Type.String(), moref: Nullable(Type.String()), instanceUuid: Type.String() }),
    ),
    deployments: Type.Array(
      Type.Object({
        id: Type.String({ format: 'uuid' }),
        kind: Type.String(),
        status: Type.String(),
        count: Type.Integer(),
        createdAt: DateTime,
        finishedAt: Nullable(DateTime),
      }),
      { description: 'The last deployments, newest first' },
    ),
  },
  { $id: 'PoolDetail' },
)

export const PoolChange = Type.Object(
  {
    pool: Pool,
    deploymentId: Nullable(Type.String({ format: 'uuid', description: 'The first deployment started; null when nothing had to change' })),
    deploymentIds: Type.Array(Type.String({ format: 'uuid' })),
  },
  { $id: 'PoolChange' },
)

const DriftCheck = Type.Object({ pool: Type.String(), drift: PoolDrift })

const ReconcileOutcome = Type.Object({
  pool: Type.String(),
  drift: PoolDrift,
  repairs: Type.Object({
    recreate: Type.Array(Type.Integer(), { description: 'Numbers deployed again' }),
    powerOn: Type.Array(Type.String()),
    rename: Type.Array(Type.String()),
    rebuild: Type.Array(Type.Integer(), {
      description: 'Numbers of clones failed in the guest step (GUEST_CUSTOMIZATION_FAILED / _TIMEOUT) rebuilt: each VM destroyed, the clone made again under its name and number, the failed record kept',
    }),
    add: Type.Integer({ description: "Clones added under the pool's next free numbers (the rebuilt ones apart)" }),
  }),
  deploymentIds: Type.Array(Type.String({ format: 'uuid' })),
  deploymentId: Nullable(Type.String({ format: 'uuid' })),
})

const writeErrors = { 400: ErrorResponse, ...authErrors, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 503: ErrorResponse }
const started = (description: string) => ({ 202: { ...described(PoolChange, description), headers: locationHeader } })

export const createPoolSchema = {
  operationId: 'createPool',
  summary: 'Create a pool and deploy its clones',
  tags: ['pools'],
  body: CreatePoolBody,
  response: { ...started('Accepted; Location names the deployment'), ...writeErrors },
}
export const listPoolsSchema = {
  operationId: 'listPools',
  summary: 'Pools, by name, a page at a time',
  tags: ['pools'],
  querystring: Type.Object(PageQuery, { additionalProperties: false }),
  response: { 200: { ...Type.Object({ pools: Type.Array(Pool), nextCursor: NextCursor }), headers: pageHeaders }, 400: ErrorResponse, ...authErrors },
}
export const getPoolSchema = {
  operationId: 'getPool',
  summary: 'A pool, its live clones and last deployments',
  tags: ['pools'],
  params: NameParams,
  response: { 200: PoolDetail, ...authErrors, 404: ErrorResponse },
}
export const changePoolSchema = {
  operationId: 'changePool',
  summary: 'Resize or renew a pool',
  tags: ['pools'],
  params: NameParams,
  body: ChangePoolBody,
  response: { 200: described(PoolChange, 'Changed; no clone to make or destroy'), ...started('Accepted; Location names the deployment'), ...writeErrors },
}
export const stripPoolSchema = {
  operationId: 'stripPool',
  summary: 'Strip a pool back: destroy its clones, keep their records',
  tags: ['pools'],
  params: NameParams,
  querystring: Type.Object(
    { ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the strip deployment' })) },
    { additionalProperties: false },
  ),
  response: { ...started('Accepted; Location names the deployment'), ...writeErrors },
}
export const refreshPoolSchema = {
  operationId: 'refreshPool',
  summary: "Refresh a pool's clones: rebuild them from its snapshot under the same names",
  tags: ['pools'],
  params: NameParams,
  body: RefreshPoolBody,
  response: { ...started('Accepted; Location names the deployment'), ...writeErrors },
}
export const recomposePoolSchema = {
  operationId: 'recomposePool',
  summary: 'Recompose a pool onto a snapshot (or parent): rebuild its clones in rolling batches',
  tags: ['pools'],
  params: NameParams,
  body: RecomposePoolBody,
  response: { ...started('Accepted; Location names the deployment'), ...writeErrors },
}

export const checkDriftSchema = {
  operationId: 'checkPoolDrift',
  summary: 'Compare a pool with vCenter now and record the drift',
  tags: ['pools'],
  params: NameParams,
  response: { 200: DriftCheck, ...writeErrors },
}
export const reconcileSchema = {
  operationId: 'reconcilePool',
  summary: "Repair a pool's drift",
  tags: ['pools'],
  params: NameParams,
  // Optional, as the body itself: a POST without one reconciles with no ticket.
  body: TicketBody,
  response: {
    200: described(ReconcileOutcome, 'Nothing to repair'),
    202: described(ReconcileOutcome, 'Repairs started; Location names the first deployment'),
    ...writeErrors,
  },
}

/** GraphQL's pool mutations' inputs, held to the REST bodies' limits. */
export const createPoolRequest = inputValidator(CreatePoolBody)
export const changePoolRequest = inputValidator(ChangePoolBody)
export const refreshPoolRequest = inputValidator(RefreshPoolBody)
export const recomposePoolRequest = inputValidator(RecomposePoolBody)
export const ticketRequest = inputValidator(TicketBody)
