import { Type } from '@fastify/type-provider-typebox'
import { ErrorResponse, authErrors } from '../../http/common-schemas.js'

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) })

/** Success bodies are described in openapi.yaml; here they pass through as built by the route. */
const ok = { 200: Type.Any(), 202: Type.Any() }
const errors = { ...ok, ...authErrors, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, 503: ErrorResponse }

export const checkDriftSchema = { summary: 'Compare a pool with vCenter now and record the drift', tags: ['pools'], params: NameParams, response: errors }
export const reconcileSchema = { summary: "Repair a pool's drift", tags: ['pools'], params: NameParams, response: errors }
