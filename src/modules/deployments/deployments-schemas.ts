import { Type, type Static } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_HOST_LIMIT } from '../../domain/placement.js'
import { MAX_CLONES_PER_DEPLOYMENT } from '../../domain/plan.js'
import { MAX_CUSTOMIZATION_TIMEOUT_MINUTES } from '../../domain/guest.js'
import { inputValidator } from '../../http/validation.js'
import { Attribute, ErrorResponse, Guest, Nullable, RecordedError, Warning, authErrors } from '../../http/common-schemas.js'


export const CreateDeploymentBody = Type.Object(
  {
    parent: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH, description: 'Name of the parent VM' }),
    count: Type.Integer({ minimum: 1, maximum: MAX_CLONES_PER_DEPLOYMENT }),
    startNumber: Type.Integer({ minimum: 0, maximum: 999_999 }),
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
  },
  { additionalProperties: false },
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
  ticket: Nullable(Type.String()),
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
  clones: Type.Array(CloneSummary),
})

export const DryRunPlan = Type.Object({
  dryRun: Type.Literal(true),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({
    name: Type.String(),
    moref: Type.String(),
    createdAt: Nullable(Type.String({ format: 'date-time', description: 'When vCenter took it' })),
  }),
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
  summary: 'Deploy linked clones of a parent VM',
  tags: ['deployments'],
  body: CreateDeploymentBody,
  response: {
    200: DryRunPlan,
    202: Deployment,
    400: ErrorResponse,
    ...authErrors,
    404: ErrorResponse,
    409: ErrorResponse,
    422: ErrorResponse,
    503: ErrorResponse,
  },
}

export const getDeploymentSchema = {
  summary: 'A deployment, its progress and its clones',
  tags: ['deployments'],
  params: Type.Object({ id: Type.String() }),
  response: { 200: Deployment, ...authErrors, 404: ErrorResponse },
}

export { Attribute }

/** GraphQL's deployLinkedClones input, held to the REST body's limits. */
export const deploymentRequest = inputValidator(CreateDeploymentBody)
