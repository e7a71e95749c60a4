import { Type } from '@fastify/type-provider-typebox'
import { Attribute, ErrorResponse, Guest, Nullable, RecordedError, authErrors } from '../../http/common-schemas.js'
import { Provenance } from './provenance-schemas.js'
import { NextCursor, PageQuery, pageHeaders } from '../../http/pagination.js'

export const Clone = Type.Object({
  name: Type.String(),
  moref: Nullable(Type.String()),
  instanceUuid: Type.String(),
  status: Type.String(),
  host: Nullable(Type.String()),
  reportedHost: Nullable(Type.String()),
  guest: Nullable(Guest),
  linked: Nullable(Type.Boolean({ description: 'Checked after cloning: true when its disks back onto the snapshot, false for a full copy (SILENT_FULL_CLONE); null until checked' })),
  deploymentId: Type.String(),
  requester: Type.String(),
  team: Type.String({ description: 'The team that owns it (its deployment\'s)' }),
  ticket: Nullable(Type.String()),
  parent: Type.Object({ name: Type.String(), moref: Type.String() }),
  snapshot: Type.Object({ name: Type.String(), moref: Type.String() }),
  createdAt: Type.String({ format: 'date-time' }),
  readyAt: Nullable(Type.String({ format: 'date-time' })),
  error: Nullable(RecordedError),
  attributes: Type.Array(Attribute),
  provenance: Provenance,
})

export const getCloneSchema = {
  operationId: 'getClone',
  summary: "A clone's provenance and custom attributes",
  tags: ['clones'],
  params: Type.Object({ name: Type.String() }),
  response: { 200: Clone, ...authErrors, 404: ErrorResponse },
}

export const listClonesSchema = {
  operationId: 'listClones',
  summary: 'Clones made by the service, by name, a page at a time',
  tags: ['clones'],
  querystring: Type.Object(
    {
      prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
      deployment: Type.Optional(Type.String({ format: 'uuid', description: "The clones of this deployment (those it destroys for a strip or scale-down), whatever their status" })),
      attribute: Type.Optional(
        Type.Array(Type.String({ minLength: 2, maxLength: 4400 }), {
          maxItems: 10,
          description: 'name:value (repeatable, all must match); a colon inside the name is written \\:',
        }),
      ),
      ...PageQuery,
    },
    { additionalProperties: false },
  ),
  response: { 200: { ...Type.Object({ clones: Type.Array(Clone), nextCursor: NextCursor }), headers: pageHeaders }, 400: ErrorResponse, ...authErrors },
}
