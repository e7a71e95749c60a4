import { Type } from '@fastify/type-provider-typebox'
import { ErrorResponse, Nullable, authErrors } from '../../http/common-schemas.js'
import { NextCursor, PageQuery, pageHeaders } from '../../http/pagination.js'

const Text = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 500, description }))

export const AuditEvent = Type.Object({
  id: Type.String({ description: 'In order of recording' }),
  at: Type.String({ format: 'date-time' }),
  sub: Nullable(Type.String({ description: "The token's sub; null when the request had no valid token" })),
  team: Nullable(Type.String({ description: "The object's team, else the team asked for, else the caller's only team" })),
  scope: Nullable(Type.String({ description: 'The scope the operation requires' })),
  operation: Type.String({ description: '"POST /v1/pools/{name}/refresh" or "mutation refreshPool"' }),
  objectType: Nullable(Type.String({ description: 'deployment, pool, parent, clone, webhook...' })),
  objectId: Nullable(Type.String({ description: "The object's id or name" })),
  outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('refused')], {
    description: 'refused: 401 or 403; failed: any other error',
  }),
  statusCode: Nullable(Type.Integer()),
  errorCode: Nullable(Type.String()),
  requestId: Nullable(Type.String({ description: 'The X-Request-Id of the request' })),
  ticket: Nullable(Type.String()),
  details: Nullable(Type.Record(Type.String(), Type.Unknown())),
})

export const listAuditEventsSchema = {
  operationId: 'listAuditEvents',
  summary: 'Every write, REST or GraphQL, accepted or refused, newest first, filtered, in cursor pages (admin)',
  tags: ['audit'],
  querystring: Type.Object(
    {
      team: Text('The team'),
      sub: Text("The caller's sub"),
      objectType: Text('deployment, pool, parent, clone, webhook...'),
      objectId: Text("The object's id or name"),
      since: Type.Optional(Type.String({ format: 'date-time', description: 'From this instant, included' })),
      until: Type.Optional(Type.String({ format: 'date-time', description: 'Until this instant, excluded' })),
      ...PageQuery,
    },
    { additionalProperties: false },
  ),
  response: {
    200: { ...Type.Object({ items: Type.Array(AuditEvent), nextCursor: NextCursor }), headers: pageHeaders },
    400: ErrorResponse,
    ...authErrors,
  },
}
