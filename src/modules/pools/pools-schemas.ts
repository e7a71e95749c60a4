import { Type } from '@fastify/type-provider-typebox'
import { MAX_VM_NAME_LENGTH } from '../../domain/naming.js'
import { MAX_HOST_LIMIT } from '../../domain/placement.js'
import { ErrorResponse, authErrors } from '../../http/common-schemas.js'
import { inputValidator } from '../../http/validation.js'

const PoolName = Type.String({ minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' })

export const CreatePoolBody = Type.Object(
  {
    name: PoolName,
    parent: Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH, description: 'Name of the parent VM' }),
    prefix: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH })),
    startNumber: Type.Integer({ minimum: 0, maximum: 999_999 }),
    size: Type.Integer({ description: 'Clones in the pool, 1 to 500' }),
    attributes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 })),
    customizationAttribute: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    hostLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HOST_LIMIT })),
    expiresAt: Type.Optional(Type.String({ description: 'ISO 8601 date-time in the future: the pool is stripped back then' })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

export const ChangePoolBody = Type.Object(
  {
    size: Type.Optional(Type.Integer({ description: 'New size, 0 to 500' })),
    expiresAt: Type.Optional(Type.String({ description: 'New expiry (renew), in the future' })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

export const RefreshPoolBody = Type.Object(
  {
    maxUnavailable: Type.Optional(Type.Integer({ description: 'Clones rebuilt at once, 1 to 500; default a quarter of them, at least 1' })),
    clones: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: MAX_VM_NAME_LENGTH }), { maxItems: 500, description: 'Only these clones (default: every live clone)' }),
    ),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

export const RecomposePoolBody = Type.Object(
  {
    snapshot: Type.Optional(Type.String({ maxLength: 255, description: "Name of a snapshot of the parent; default its current snapshot" })),
    parent: Type.Optional(Type.String({ maxLength: MAX_VM_NAME_LENGTH, description: "Another parent VM's name; default the pool's parent" })),
    maxUnavailable: Type.Optional(Type.Integer({ description: 'Clones rebuilt at once, 1 to 500; default a quarter of them, at least 1' })),
    ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the deployments this causes, e.g. RITM0012345' })),
  },
  { additionalProperties: false },
)

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) })

/** Success bodies are described in openapi.yaml; here they pass through as built by the route. */
const ok = { 200: Type.Any(), 202: Type.Any() }
const errors = { ...ok, ...authErrors, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 503: ErrorResponse }

export const createPoolSchema = { summary: 'Create a pool and deploy its clones', tags: ['pools'], body: CreatePoolBody, response: errors }
export const listPoolsSchema = { summary: 'Pools', tags: ['pools'], response: { ...ok, ...authErrors } }
export const getPoolSchema = { summary: 'A pool, its live clones and last deployments', tags: ['pools'], params: NameParams, response: { ...ok, ...authErrors, 404: ErrorResponse } }
export const changePoolSchema = { summary: 'Resize or renew a pool', tags: ['pools'], params: NameParams, body: ChangePoolBody, response: errors }
export const stripPoolSchema = {
  summary: "Strip a pool back: destroy its clones, keep their records",
  tags: ['pools'],
  params: NameParams,
  querystring: Type.Object(
    { ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'External reference recorded on the strip deployment' })) },
    { additionalProperties: false },
  ),
  response: errors,
}
export const refreshPoolSchema = {
  summary: "Refresh a pool's clones: rebuild them from its snapshot under the same names",
  tags: ['pools'],
  params: NameParams,
  body: RefreshPoolBody,
  response: errors,
}
export const recomposePoolSchema = {
  summary: 'Recompose a pool onto a snapshot (or parent): rebuild its clones in rolling batches',
  tags: ['pools'],
  params: NameParams,
  body: RecomposePoolBody,
  response: errors,
}

export const checkDriftSchema = { summary: 'Compare a pool with vCenter now and record the drift', tags: ['pools'], params: NameParams, response: errors }
export const reconcileSchema = { summary: "Repair a pool's drift", tags: ['pools'], params: NameParams, response: errors }

/** GraphQL's pool mutations' inputs, held to the REST bodies' limits. */
export const createPoolRequest = inputValidator(CreatePoolBody)
export const changePoolRequest = inputValidator(ChangePoolBody)
export const refreshPoolRequest = inputValidator(RefreshPoolBody)
export const recomposePoolRequest = inputValidator(RecomposePoolBody)
