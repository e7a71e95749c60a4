/** Schemas of clones' attributes, their history and provenance (attribute-routes.ts). */
import { Type, type Static } from '@fastify/type-provider-typebox'
import { HISTORY_PAGE_SIZE, MAX_HISTORY_PAGE_SIZE, MAX_NAME_LENGTH, MAX_VALUE_LENGTH } from './attribute-service.js'
import { Clone } from './clones-schemas.js'
import { ErrorResponse, Nullable, authErrors } from '../../http/common-schemas.js'

const DateTime = Type.String({ format: 'date-time' })

export const SetAttributesBody = Type.Object(
  {
    attributes: Type.Record(Type.String(), Type.String({ maxLength: MAX_VALUE_LENGTH }), {
      minProperties: 1,
      maxProperties: 100,
      description: `Name -> value; names up to ${MAX_NAME_LENGTH} characters`,
    }),
  },
  { additionalProperties: false },
)
export type SetAttributesBody = Static<typeof SetAttributesBody>

const CloneName = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) })

export const setAttributesSchema = {
  operationId: 'setCloneAttributes',
  summary: "Set a clone's custom attributes, in vCenter and in the records together",
  tags: ['clones'],
  params: CloneName,
  body: SetAttributesBody,
  response: {
    200: Type.Object({ changed: Type.Array(Type.String()), clone: Clone }),
    400: ErrorResponse,
    ...authErrors,
    404: ErrorResponse,
    409: ErrorResponse,
    410: ErrorResponse,
    502: ErrorResponse,
    503: ErrorResponse,
  },
}

export const HistoryEntry = Type.Object({
  at: DateTime,
  event: Type.Union([Type.Literal('set'), Type.Literal('reveal'), Type.Literal('vanished'), Type.Literal('reappeared')]),
  source: Type.Union([Type.Literal('deployment'), Type.Literal('user'), Type.Literal('vcenter')]),
  actor: Type.String({ description: "A user's sub, a deployment's id, or attribute-sync" }),
  deploymentId: Nullable(Type.String()),
  name: Nullable(Type.String()),
  secret: Type.Boolean(),
  oldValue: Nullable(Type.String()),
  newValue: Nullable(Type.String()),
})

export const historySchema = {
  operationId: 'getCloneHistory',
  summary: "A clone's attribute history, newest first: every change, reveal and disappearance",
  tags: ['clones'],
  params: CloneName,
  querystring: Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HISTORY_PAGE_SIZE, default: HISTORY_PAGE_SIZE, description: 'Entries in the page' })),
      cursor: Type.Optional(
        Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: "The page before's nextCursor: the entries older than it" }),
      ),
    },
    { additionalProperties: false },
  ),
  response: {
    200: Type.Object({
      clone: Type.String(),
      entries: Type.Array(HistoryEntry),
      nextCursor: Nullable(Type.String({ description: 'The next (older) page; null on the last' })),
    }),
    400: ErrorResponse,
    ...authErrors,
    404: ErrorResponse,
  },
}
