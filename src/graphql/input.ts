/**
 * Mutation inputs, checked against the very schemas the REST routes validate their bodies with
 * (CreateDeploymentBody: count 1..500, name lengths...; CreatePoolBody...), by an Ajv set up as app.ts
 * sets up the REST one. GraphQL has already checked the types; this adds the limits, with REST's
 * error (VALIDATION_FAILED, `details.issues` with paths under `input/` where REST says `body/`).
 */
import type { Static, TSchema } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { ValidationFailed } from '../errors.js'
import { CreateDeploymentBody } from '../modules/deployments/deployments-schemas.js'
import { ChangePoolBody, CreatePoolBody, RecomposePoolBody, RefreshPoolBody } from '../modules/pools/pools-schemas.js'

const ajv = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
addFormats.default(ajv)

/** A function that returns the input as the REST body it stands for, or throws VALIDATION_FAILED. */
export function inputValidator<S extends TSchema>(schema: S): (input: Record<string, unknown>) => Static<S> {
  const validate = ajv.compile<Static<S>>(schema)
  return (input) => {
    // GraphQL's explicit nulls mean "not given".
    const body = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null && value !== undefined))
    if (validate(body)) return body
    const issues = (validate.errors ?? []).map((e) => ({ path: `input${e.instancePath}`, message: e.message ?? 'is not valid' }))
    const first = issues[0]
    throw new ValidationFailed({ issues }, first ? `${first.path} ${first.message}` : 'the input is not valid')
  }
}

export const deploymentRequest = inputValidator(CreateDeploymentBody)
export const createPoolRequest = inputValidator(CreatePoolBody)
export const changePoolRequest = inputValidator(ChangePoolBody)
export const refreshPoolRequest = inputValidator(RefreshPoolBody)
export const recomposePoolRequest = inputValidator(RecomposePoolBody)
