import { Type, type Static } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_HOST_LIMIT } from '../../domain/placement.js'
import { DEPLOYMENT_KINDS } from '../../domain/progress.js'
import { MAX_CLONES_PER_DEPLOYMENT } from '../../domain/plan.js'
import { MAX_CUSTOMIZATION_TIMEOUT_MINUTES } from '../../domain/guest.js'
import { inputValidator } from '../../http/validation.js'
import { Attribute, ErrorResponse, Guest, Nullable, RecordedError, Warning, authErrors, described, locationHeader } from '../../http/common-schemas.js'


export const CreateDeploymentBody = Type.Object(
  {
    parent: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH, description: 'Name of the parent VM' }),
    count: Type.Integer({ minimum: 1, maximum: MAX_CLONES_PER_DEPLOYMENT }),
    startNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999, description: 'Default: the lowest number from which every requested name is free (1 for a new prefix; 26 after Capture01..Capture25)' })),
    prefix: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH, description: "Default: the parent name's second word" }),
    ),
    attributes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
        maxItems: 100,
        description: "Custom attributes to copy from the parent; default the seed's ten",
      }),
    ),
    customizationAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference, e.g. RITM0012345' })),
    hostLimit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_HOST_LIMIT, description: "At most this many hosts for the parent's clones (VMFS: 8, VMFS5/NFS: 32)" }),
    ),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 640, description: "This deployment's operations at once" })),
    dryRun: Type.Optional(Type.Boolean({ description: 'Answer 200 with the plan and change nothing' })),
    customizationTimeoutMinutes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_CUSTOMIZATION_TIMEOUT_MINUTES,
        description: "Minutes each clone waits for its guest's customization after power-on (default CUSTOMIZATION_TIMEOUT_MINUTES, 30)",
      }),
    ),
    snapshot: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: "The parent's snapshot to clone from, by moref or name (default its current snapshot); 404 SNAPSHOT_NOT_FOUND, 409 SNAPSHOT_AMBIGUOUS",
      }),
    ),
    team: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'The team that owns it; required (400 TEAM_REQUIRED) when the token is in several teams, 403 TEAM_FORBIDDEN for a team it is not in. Checked by a dry run too',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ parent: 'Tmpl Capture 1.0', count: 25, startNumber: 1, ticket: 'RITM0012345' }] },
)
export type CreateDeploymentBody = Static<typeof CreateDeploymentBody>

export const CloneSummary = Type.Object({
  name: Type.String(),
  status: Type.String(),
  moref: Nullable(Type.String()),
  instanceUuid: Type.String(),
  host: Nullable(Type.String({ description: 'The host the service placed the clone on' })),
  reportedHost: Nullable(Type.String({ description: 'The host vCenter reports the clone on' })),
  guest: Nullable(Guest),
  linked: Nullable(Type.Boolean({ description: 'Checked after cloning: true when its disks back onto the snapshot, false for a full copy (SILENT_FULL_CLONE); null until checked' })),
  error: Nullable(RecordedError),
  /** A rebuild's clone: its step (`destroying` while the clone it replaces is destroyed) and that clone. */
  step: Type.Optional(Type.String()),
  replaces: Type.Optional(
    Type.Object({
      name: Type.String(),
      status: Type.String(),
      moref: Nullable(Type.String()),
      instanceUuid: Type.String(),
      deploymentId: Type.String({ description: 'The deployment that made it' }),
    }),
  ),
})

export const Deployment = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Type.String({ description: 'deploy, scale-down, strip, refresh or recompose' }),
  pool: Nullable(Type.String()),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({
    name: Type.String(),
    moref: Type.String(),
    createdAt: Nullable(Type.String({ format: 'date-time', description: 'When vCenter took it' })),
  }),
  prefix: Type.String(),
  startNumber: Type.Integer(),
  count: Type.Integer(),
  hostLimit: Type.Integer(),
  maxConcurrent: Nullable(Type.Integer()),
  customizationSpec: Type.String(),
  attributes: Type.Array(Type.String()),
  requester: Type.String(),
  team: Type.String({ description: 'The team that owns it' }),
  ticket: Nullable(Type.String()),
  requestId: Nullable(Type.String({ description: 'The X-Request-Id of the request that caused it; null when the service started it (e.g. an expiry)' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  durationSeconds: Nullable(Type.Number()),
  warnings: Type.Array(Warning),
  error: Nullable(RecordedError),
  progress: Type.Object({
    total: Type.Integer(),
    done: Type.Integer(),
    failed: Type.Integer(),
    byStatus: Type.Record(Type.String(), Type.Integer()),
    estimatedSecondsLeft: Type.Integer(),
  }),
  clones: Type.Array(CloneSummary, { description: 'The first 100 clones, by number; progress counts every clone' }),
  clonesNextCursor: Nullable(
    Type.String({ description: 'The clones after those shown: GET /v1/clones?deployment={id}&cursor=this; null when all are shown' }),
  ),
})

export const DryRunPlan = Type.Object({
  dryRun: Type.Literal(true),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({
    name: Type.String(),
    moref: Type.String(),
    createdAt: Nullable(Type.String({ format: 'date-time', description: 'When vCenter took it' })),
  }),
  prefix: Type.String(),
  startNumber: Type.Integer(),
  startNumberChosen: Type.Boolean({ description: 'True when the request gave no startNumber and the plan chose the lowest free one' }),
  customizationSpec: Type.String(),
  attributes: Type.Array(Type.String()),
  clones: Type.Array(Type.Object({ name: Type.String(), host: Type.String() })),
  hosts: Type.Array(Type.Object({ moref: Type.String(), name: Type.String(), clones: Type.Integer() })),
  hostLimit: Type.Integer(),
  checks: Type.Array(Type.Object({ check: Type.String(), passed: Type.Boolean(), detail: Type.String() })),
  warnings: Type.Array(Warning),
  estimate: Type.Object({
    concurrency: Type.Integer({ description: 'Clones at once under the tightest limit' }),
    waves: Type.Integer(),
    seconds: Type.Number(),
    secondsPerClone: Type.Number(),
    guestSeconds: Type.Number({ description: "The guest's customization after power-on, once: guests customize in parallel" }),
  }),
})

export const createDeploymentSchema = {
  operationId: 'createDeployment',
  summary: 'Deploy linked clones of a parent VM',
  tags: ['deployments'],
  body: CreateDeploymentBody,
  response: {
    200: described(DryRunPlan, 'The plan of a dry run (`dryRun: true`); nothing was changed'),
    202: { ...described(Deployment, 'Accepted; the clones are made in the background, Location names the deployment'), headers: locationHeader },
    400: ErrorResponse,
    ...authErrors,
    404: ErrorResponse,
    409: ErrorResponse,
    422: ErrorResponse,
    503: ErrorResponse,
  },
}

export const DeploymentSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Type.String({ description: 'deploy, scale-down, strip, refresh, recompose or reconcile' }),
  pool: Nullable(Type.String()),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({ name: Type.String(), moref: Type.String() }),
  prefix: Type.String(),
  startNumber: Type.Integer(),
  count: Type.Integer(),
  requester: Type.String(),
  team: Type.String({ description: 'The team that owns it' }),
  ticket: Nullable(Type.String()),
  requestId: Nullable(Type.String({ description: 'The X-Request-Id of the request that caused it; null when the service started it (e.g. an expiry)' })),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  durationSeconds: Nullable(Type.Number()),
  error: Nullable(RecordedError),
  progress: Type.Object({
    total: Type.Integer(),
    done: Type.Integer(),
    failed: Type.Integer(),
    byStatus: Type.Record(Type.String(), Type.Integer()),
  }),
})

export const DEPLOYMENTS_PAGE_SIZE = 100
export const MAX_DEPLOYMENTS_PAGE_SIZE = 1000

export const listDeploymentsSchema = {
  operationId: 'listDeployments',
  summary: "Deployments of the caller's teams (admin: every team's), newest first, filtered (by ticket, request id, pool, requester, team, status, kind), in cursor pages",
  tags: ['deployments'],
  querystring: Type.Object(
    {
      ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference, e.g. RITM0012345' })),
      requestId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', description: 'The X-Request-Id of the request that caused it' })),
      pool: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "The pool's name" })),
      requester: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "The token's sub that asked for it" })),
      team: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "The owning team (among the caller's teams; admin: any)" })),
      status: Type.Optional(Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')])),
      kind: Type.Optional(Type.Union(DEPLOYMENT_KINDS.map((k) => Type.Literal(k)))),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DEPLOYMENTS_PAGE_SIZE, default: DEPLOYMENTS_PAGE_SIZE, description: 'Deployments in the page' })),
      cursor: Type.Optional(
        Type.String({ minLength: 1, maxLength: 400, pattern: '^[A-Za-z0-9_-]+$', description: "The page before's nextCursor: the deployments older than it" }),
      ),
    },
    { additionalProperties: false },
  ),
  response: {
    200: Type.Object({
      items: Type.Array(DeploymentSummary),
      nextCursor: Nullable(Type.String({ description: 'The next (older) page; null on the last. Also in the Link header (rel="next")' })),
    }),
    400: ErrorResponse,
    ...authErrors,
  },
}

export const getDeploymentSchema = {
  operationId: 'getDeployment',
  summary: 'A deployment, its progress and its clones',
  tags: ['deployments'],
  params: Type.Object({ id: Type.String() }),
  response: { 200: Deployment, ...authErrors, 404: ErrorResponse },
}

export { Attribute }

/** GraphQL's deployLinkedClones input, held to the REST body's limits. */
export const deploymentRequest = inputValidator(CreateDeploymentBody)
