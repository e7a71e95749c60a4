/**
 * deployLinkedClones' input, checked against the very schema POST /v1/deployments validates its body
 * with (CreateDeploymentBody: count 1..500, name lengths...), by an Ajv set up as app.ts sets up the
 * REST one. GraphQL has already checked the types; this adds the limits, with REST's error.
 */
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { ValidationFailed } from '../errors.js'
import { CreateDeploymentBody } from '../schemas/deployments.js'

const ajv = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
addFormats.default(ajv)
const validateBody = ajv.compile<CreateDeploymentBody>(CreateDeploymentBody)

/** The input as the REST body it stands for; GraphQL's explicit nulls mean "not given". */
export function deploymentRequest(input: Record<string, unknown>): CreateDeploymentBody {
  const body = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null && value !== undefined))
  if (validateBody(body)) return body
  const issues = (validateBody.errors ?? []).map((e) => ({ path: `input${e.instancePath}`, message: e.message ?? 'is not valid' }))
  const first = issues[0]
  throw new ValidationFailed({ issues }, first ? `${first.path} ${first.message}` : 'the input is not valid')
}
