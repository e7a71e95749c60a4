import { Type } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_SNAPSHOT_DESCRIPTION_LENGTH, MAX_SNAPSHOT_NAME_LENGTH } from '../../domain/snapshots.js'
import { ErrorResponse, authErrors } from '../../http/common-schemas.js'

export const PrepareParentBody = Type.Object(
  {
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

/** Success bodies are described in openapi.yaml; here they pass through as built by the route. */
const ok = { 200: Type.Any(), 202: Type.Any() }
const errors = { ...ok, ...authErrors, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 502: ErrorResponse, 503: ErrorResponse }

export const prepareParentSchema = {
  summary: 'Prepare a parent: power it off and take the snapshot its clones will use',
  tags: ['parents'],
  params: ParentParams,
  body: PrepareParentBody,
  response: errors,
}
export const listPreparationsSchema = { summary: "A parent's preparations, newest first", tags: ['parents'], params: ParentParams, response: errors }
export const getPreparationSchema = { summary: 'A preparation: status, steps, snapshot', tags: ['parents'], params: PreparationParams, response: errors }
export const listSnapshotsSchema = { summary: "A parent's snapshots with the live clones using each", tags: ['parents'], params: ParentParams, response: errors }
export const removeSnapshotSchema = { summary: 'Remove a snapshot no live clone uses', tags: ['parents'], params: SnapshotParams, response: errors }
export const revertSnapshotSchema = { summary: 'Revert the parent to a snapshot no live clone uses', tags: ['parents'], params: SnapshotParams, response: errors }
