import { Type, type TSchema } from '@fastify/type-provider-typebox'
import { serviceErrorCodes } from '../errors.js'

export const ErrorResponse = Type.Object(
  {
    code: Type.String({ enum: serviceErrorCodes(), description: 'Stable machine-readable code, e.g. PARENT_NOT_FOUND', examples: ['PARENT_NOT_FOUND'] }),
    message: Type.String({ description: 'What went wrong, for a person' }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    requestId: Type.Optional(Type.String({ description: 'The request\'s X-Request-Id, to find its log lines' })),
  },
  { $id: 'Error' },
)

export const RecordedError = Type.Object({
  code: Type.String(),
  message: Type.String(),
  faultType: Type.Optional(Type.String({ description: 'The vSphere fault type when vCenter refused' })),
})

export const Warning = Type.Object({ code: Type.String(), message: Type.String() })

export const Attribute = Type.Object({ name: Type.String(), value: Type.String() })

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T, options?: { description?: string }) =>
  Type.Union([schema, Type.Null()], options)

/** The error statuses every authenticated route can answer (429: the rate limit per caller, http/rate-limit.ts). */
export const authErrors = { 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse }

/** The Location header of an accepted (202) answer, documented on the response: `{ ...described(X, '...'), headers: locationHeader }`. */
export const locationHeader = { Location: Type.String({ description: 'Where to follow the work: /v1/deployments/{id} or the preparation' }) }

/** The schema, answered with this description of the response (the generated contract shows it). */
export const described = <T extends TSchema>(schema: T, text: string): T => ({ ...schema, 'x-response-text': text })

/** A clone's guest after power-on: its customization's outcome, host name and IPs (null until known). */
export const Guest = Type.Object({
  customization: Nullable(
    Type.Object({
      outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('timeout')]),
      eventType: Nullable(Type.String({ description: 'The event that ended it, e.g. CustomizationSucceeded, CustomizationSysprepFailed' })),
      startedAt: Nullable(Type.String({ format: 'date-time' })),
      endedAt: Nullable(Type.String({ format: 'date-time' })),
      message: Nullable(Type.String()),
    }),
  ),
  hostName: Nullable(Type.String({ description: 'guest.hostName' })),
  ipAddresses: Type.Array(Type.String(), { description: 'guest.ipAddress and guest.net' }),
})
