import { Type } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_SNAPSHOT_DESCRIPTION_LENGTH, MAX_SNAPSHOT_NAME_LENGTH } from '../../domain/snapshots.js'
import { ErrorResponse, Nullable, RecordedError, authErrors, described, locationHeader } from '../../http/common-schemas.js'
import { NextCursor, PageQuery, pageHeaders } from '../../http/pagination.js'

export const PrepareParentBody = Type.Object(
  {
    team: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The team that owns the preparation; required when the caller is in several' }),
    ),
    snapshotName: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_SNAPSHOT_NAME_LENGTH, description: 'Default "<parent> YYYY-MM-DD" (UTC)' }),
    ),
    description: Type.Optional(Type.String({ maxLength: MAX_SNAPSHOT_DESCRIPTION_LENGTH })),
    recompose: Type.Optional(Type.Boolean({ description: "Recompose the parent's active pools onto the new snapshot" })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the preparation, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

const ParentParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH }) })
const PreparationParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH }), id: Type.String({ maxLength: 64 }) })
const SnapshotParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH }),
  snapshot: Type.String({ minLength: 1, maxLength: 200, description: "The snapshot's moref, or its name" }),
})

const DateTime = Type.String({ format: 'date-time' })

export const Preparation = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    parent: Type.Object({ name: Type.String(), moref: Type.String(), instanceUuid: Nullable(Type.String()) }),
    status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    recompose: Type.Boolean(),
    snapshot: Type.Object({
      name: Type.String(),
      description: Nullable(Type.String()),
      moref: Nullable(Type.String({ description: 'Once taken' })),
      createdAt: Nullable(DateTime),
    }),
    steps: Type.Array(
      Type.Object({
        step: Type.Union([Type.Literal('power_off'), Type.Literal('snapshot'), Type.Literal('recompose')]),
        outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('skipped'), Type.Literal('adopted'), Type.Literal('failed')]),
        taskMoref: Type.Optional(Type.String()),
        detail: Type.Optional(Type.String()),
        pool: Type.Optional(Type.String({ description: 'recompose: the pool' })),
        deploymentIds: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { description: 'recompose: the deployments it started' })),
        error: Type.Optional(RecordedError),
        at: DateTime,
      }),
      { description: 'Each step as it happened' },
    ),
    deploymentIds: Type.Array(Type.String({ format: 'uuid' })),
    error: Nullable(RecordedError),
    requester: Type.String(),
    team: Type.String({ description: 'The team that owns the preparation' }),
    ticket: Nullable(Type.String({ description: 'The external reference given with the request, e.g. RITM0012345' })),
    requestId: Nullable(Type.String({ description: 'The X-Request-Id of the request that asked for it' })),
    createdAt: DateTime,
    startedAt: Nullable(DateTime),
    finishedAt: Nullable(DateTime),
  },
  { $id: 'Preparation' },
)

export const Snapshot = Type.Object(
  {
    moref: Type.String({ examples: ['snapshot-1'] }),
    name: Type.String(),
    description: Type.String(),
    createdAt: Nullable(DateTime),
    parentSnapshot: Nullable(Type.String({ description: "The moref of the snapshot it was taken from; null for a root" })),
    current: Type.Boolean(),
    depth: Type.Integer({ description: 'Depth in the tree (roots 0)' }),
    liveClones: Type.Optional(Type.Integer({ description: 'Live clones made from it' })),
    pools: Type.Optional(Type.Array(Type.String(), { description: 'Pools whose live clones use it' })),
  },
  { $id: 'Snapshot' },
)

export const ParentVm = Type.Object(
  {
    name: Type.String({ examples: ['Tmpl Capture 1.0'] }),
    moref: Type.String(),
    instanceUuid: Nullable(Type.String()),
    powerState: Type.String(),
    currentSnapshot: Nullable(Type.String({ description: "The current snapshot's moref" })),
  },
  { $id: 'ParentVm' },
)

const SnapshotActionDone = Type.Object({
  action: Type.Union([Type.Literal('removed'), Type.Literal('reverted')]),
  snapshot: Snapshot,
  taskMoref: Nullable(Type.String()),
  parent: ParentVm,
  ticket: Nullable(Type.String({ description: 'The external reference given with the request (recorded on its audit entry)' })),
})
const SnapshotTicket = {
  ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the audit entry, e.g. RITM0012345' })),
}

const readErrors = { ...authErrors, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse }
const writeErrors = { ...readErrors, 502: ErrorResponse }

export const prepareParentSchema = {
  operationId: 'prepareParent',
  summary: 'Prepare a parent: power it off and take the snapshot its clones will use',
  tags: ['parents'],
  params: ParentParams,
  body: PrepareParentBody,
  response: {
    200: described(Preparation, 'The same request made before, already finished'),
    202: { ...described(Preparation, 'Accepted (or the same request, still running); Location names the preparation'), headers: locationHeader },
    ...writeErrors,
  },
}
export const listPreparationsSchema = {
  operationId: 'listPreparations',
  summary: "A parent's preparations, newest first, a page at a time",
  tags: ['parents'],
  params: ParentParams,
  querystring: Type.Object(PageQuery, { additionalProperties: false }),
  response: { 200: { ...Type.Object({ preparations: Type.Array(Preparation), nextCursor: NextCursor }), headers: pageHeaders }, ...readErrors },
}
export const getPreparationSchema = {
  operationId: 'getPreparation',
  summary: 'A preparation: status, steps, snapshot',
  tags: ['parents'],
  params: PreparationParams,
  response: { 200: Preparation, ...readErrors },
}
export const listSnapshotsSchema = {
  operationId: 'listSnapshots',
  summary: "A parent's snapshots (depth first) with the live clones using each, a page at a time",
  tags: ['parents'],
  params: ParentParams,
  querystring: Type.Object(PageQuery, { additionalProperties: false }),
  response: { 200: { ...Type.Object({ parent: ParentVm, snapshots: Type.Array(Snapshot), nextCursor: NextCursor }), headers: pageHeaders }, ...readErrors },
}
export const removeSnapshotSchema = {
  operationId: 'removeSnapshot',
  summary: 'Remove a snapshot no live clone uses',
  tags: ['parents'],
  params: SnapshotParams,
  querystring: Type.Object(SnapshotTicket, { additionalProperties: false }),
  response: { 200: SnapshotActionDone, ...writeErrors },
}
export const revertSnapshotSchema = {
  operationId: 'revertSnapshot',
  summary: 'Revert the parent to a snapshot no live clone uses',
  tags: ['parents'],
  params: SnapshotParams,
  // Optional, as the body itself: a POST without one reverts with no ticket.
  body: Type.Object(SnapshotTicket, { additionalProperties: false }),
  response: { 200: SnapshotActionDone, ...writeErrors },
}
