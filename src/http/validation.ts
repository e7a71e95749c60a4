/**
 * Request validation, set up once: the Ajv that checks REST bodies (strict types: a count of "25" is
 * a type error, not 25), the one that checks query strings and params (text by nature, coerced), and
 * `inputValidator`, which holds GraphQL mutation inputs to the very schemas the REST routes validate
 * their bodies with (count 1..2000, name lengths...), with REST's error (VALIDATION_FAILED,
 * `details.issues` with paths under `input/` where REST says `body/`).
 */
import type { Static, TSchema } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'
import { ValidationFailed } from '../errors.js'

function createAjv(coerceTypes: boolean | 'array'): Ajv {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false })
  addFormats.default(ajv)
  return ajv
}

const bodyAjv = createAjv(false)
const textAjv = createAjv('array')

/** Bodies are validated strictly; query strings and params are coerced. */
export function installValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema))
}

/** A function that returns the input as the REST body it stands for, or throws VALIDATION_FAILED. */
export function inputValidator<S extends TSchema>(schema: S): (input: Record<string, unknown>) => Static<S> {
  const validate = bodyAjv.compile<Static<S>>(schema)
  return (input) => {
    // GraphQL's explicit nulls mean "not given".
    const body = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null && value !== undefined))
    if (validate(body)) return body
    const issues = (validate.errors ?? []).map((e) => ({ path: `input${e.instancePath}`, message: e.message ?? 'is not valid' }))
    const first = issues[0]
    throw new ValidationFailed({ issues }, first ? `${first.path} ${first.message}` : 'the input is not valid')
  }
}
