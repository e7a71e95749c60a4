/**
 * A property-based test of the whole REST contract: for every operation in openapi.yaml, requests are
 * generated from its schemas (valid ones, near misses and arbitrary JSON, with path and query values
 * that include NUL, escapes and non-ASCII), sent with tokens of random scopes, and every answer must
 * be below 500 with, for an error, a body whose `code` is in the catalogue. Bounded in runs and time;
 * the seed is fixed (FUZZ_SEED overrides it) so that a failure is reproduced by running it again.
 */
import { readFile } from 'node:fs/promises'
import fc from 'fast-check'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { serviceErrorCodes } from '../../src/errors.js'
import { startTestService, type TestService } from '../helpers/service.js'

type Schema = Record<string, any>

const SEED = Number(process.env.FUZZ_SEED ?? 20261201)
const RUNS_PER_OPERATION = Number(process.env.FUZZ_RUNS ?? 30)
const SCOPES = ['deployments:read', 'deployments:write', 'secrets:read', 'admin']

let service: TestService
let doc: Schema
t.before(async () => {
  service = await startTestService({ runWorkers: false })
  doc = parseYaml(await readFile(new URL('../../openapi.yaml', import.meta.url), 'utf8'))
})
t.teardown(() => service?.stop())

/** Text a caller could send: ordinary, full-Unicode (NUL and controls included), or names the lab knows. */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('Tmpl Capture 1.0', 'Capture01', 'Base', 'snapshot-1', '%', '..', ' ', '\u0000', 'é', '*'),
)

function resolve(schema: Schema): Schema {
  if (schema?.$ref) {
    const name = String(schema.$ref).split('/').pop()!
    return resolve(doc.components.schemas[name])
  }
  return schema ?? {}
}

/** Values the schema accepts, mostly: bounds respected, formats honoured. */
function valid(schemaIn: Schema, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(schemaIn)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  if (schema.oneOf || schema.anyOf) return fc.oneof(...(schema.oneOf ?? schema.anyOf).map((s: Schema) => valid(s, depth + 1)))
  if (schema.allOf) return valid(Object.assign({}, ...schema.allOf.map(resolve)), depth + 1)
  const type = Array.isArray(schema.type) ? schema.type.find((x: string) => x !== 'null') : schema.type
  switch (type) {
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -5, max: schema.maximum ?? 2_000_000 })
    case 'number':
      return fc.double({ min: schema.minimum ?? -5, max: schema.maximum ?? 1e6, noNaN: true })
    case 'boolean':
      return fc.boolean()
    case 'string':
      if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString())
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 80) && s.length >= (schema.minLength ?? 0))
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) })
    case 'array':
      if (depth > 3) return fc.constant([])
      return fc.array(valid(schema.items ?? {}, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) })
    case 'object': {
      if (depth > 3) return fc.constant({})
      const properties: Record<string, Schema> = schema.properties ?? {}
      const required = new Set<string>(schema.required ?? [])
      const record: Record<string, fc.Arbitrary<unknown>> = {}
      for (const [name, inner] of Object.entries(properties)) record[name] = valid(inner, depth + 1)
      const fixed = fc.record(record, { requiredKeys: [...required].filter((k) => k in record) })
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && Object.keys(properties).length === 0) {
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), valid(schema.additionalProperties, depth + 1), {
          minKeys: schema.minProperties ?? 0,
          maxKeys: Math.min(schema.maxProperties ?? 4, 4),
        })
      }
      return fixed
    }
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

/** A body: valid, a valid one with one field replaced by anything, or any JSON at all. */
function body(schema: Schema): fc.Arbitrary<unknown> {
  const near = valid(schema).chain((value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length === 0) return fc.constant(value)
    return fc.tuple(fc.constantFrom(...Object.keys(value)), fc.oneof(fc.jsonValue({ maxDepth: 1 }), text)).map(([key, replacement]) => ({ ...value, [key]: replacement }))
  })
  return fc.oneof({ weight: 3, arbitrary: valid(schema) }, { weight: 3, arbitrary: near }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) })
}

interface Operation {
  method: string
  path: string
  params: { name: string; in: string; schema?: Schema }[]
  body?: Schema
}

function operations(): Operation[] {
  return Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([method]) => ['get', 'post', 'patch', 'delete', 'put'].includes(method))
      .map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: [...(ops.parameters ?? []), ...(op.parameters ?? [])],
        body: op.requestBody?.content?.['application/json']?.schema,
      })),
  )
}

function request(op: Operation): fc.Arbitrary<{ url: string; payload?: unknown; scopes: string[] }> {
  const pathParams = op.params.filter((p) => p.in === 'path')
  const queryParams = op.params.filter((p) => p.in === 'query')
  return fc.record({
    path: fc.tuple(...pathParams.map(() => text)),
    query: fc.tuple(...queryParams.map((p) => fc.option(fc.oneof(text, valid(p.schema ?? {}).map(String)), { nil: undefined }))),
    payload: op.body ? body(op.body) : fc.constant(undefined),
    scopes: fc.subarray(SCOPES, { minLength: 1 }),
  }).map(({ path, query, payload, scopes }) => {
    let url = op.path
    pathParams.forEach((p, i) => (url = url.replace(`{${p.name}}`, encodeURIComponent(path[i] as string) || 'x')))
    const search = queryParams.flatMap((p, i) => (query[i] === undefined ? [] : [`${p.name}=${encodeURIComponent(String(query[i]))}`]))
    return { url: search.length ? `${url}?${search.join('&')}` : url, payload, scopes }
  })
}

t.test('no generated request answers 5xx, and every error carries a catalogued code', async (t) => {
  const catalogue = new Set(serviceErrorCodes())
  const ops = operations()
  t.ok(ops.length >= 20, `${ops.length} operations from openapi.yaml`)
  const seen = new Map<number, number>()
  for (const op of ops) {
    const failure = await fc.check(
      fc.asyncProperty(request(op), async ({ url, payload, scopes }) => {
        const res = await service.app.inject({
          method: op.method as 'GET',
          url,
          headers: { authorization: `Bearer ${service.token(scopes.join(' '))}` },
          ...(payload === undefined ? {} : { payload: JSON.stringify(payload), headers: { authorization: `Bearer ${service.token(scopes.join(' '))}`, 'content-type': 'application/json' } }),
        })
        seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode >= 500) throw new Error(`${res.statusCode}: ${res.body.slice(0, 300)}`)
        if (res.statusCode >= 400) {
          const parsed = res.json()
          if (!catalogue.has(parsed.code)) throw new Error(`undocumented code ${JSON.stringify(parsed.code)}: ${res.body.slice(0, 300)}`)
          if (typeof parsed.message !== 'string' || parsed.message === '') throw new Error(`no message: ${res.body.slice(0, 300)}`)
        }
      }),
      { numRuns: RUNS_PER_OPERATION, seed: SEED, interruptAfterTimeLimit: 60_000, endOnFailure: true },
    )
    t.notOk(failure.failed, `${op.method} ${op.path}${failure.failed ? `: ${fc.defaultReportMessage(failure)}` : ''}`)
  }
  // The generator reaches past the refusals: some requests are accepted, and several kinds refused.
  const statuses = [...seen.keys()]
  t.ok(statuses.some((s) => s < 300), `some requests succeed (${JSON.stringify(Object.fromEntries(seen))})`)
  t.ok(statuses.filter((s) => s >= 400).length >= 3, 'several kinds of refusal are met (400, 403, 404 at least)')
})
