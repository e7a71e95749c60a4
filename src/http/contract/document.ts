/**
 * What the generated OpenAPI document holds beside the routes' schemas: its header (info, servers,
 * tags with descriptions, the bearer scheme), and the passes over @fastify/swagger's output that make
 * it a clean 3.1 document: every schema with an `$id` becomes one named component referenced where
 * used (fastify's own hoisting inlines the top-level ones), responses get a description even when the
 * schema gives none (errors: the catalogue's codes of that status), and each operation with a body
 * documents 413 and 415, which the request guards answer before any route runs.
 */
import type { SwaggerOptions } from '@fastify/swagger'
import { serviceErrorStatuses } from '../../errors.js'

type Json = Record<string, unknown>

const SCOPES_TEXT = [
  'Every `/v1` route needs `Authorization: Bearer <JWT>` (`exp` and `sub` required). Scopes, from the',
  'space-separated `scope` claim: `deployments:read`, `deployments:write`, `secrets:read`, `admin` (holds every',
  'scope). A missing or invalid token answers 401 `UNAUTHORIZED`; a missing scope 403 `FORBIDDEN`.',
  'Errors are `{code, message, details?}` with a stable `code` (the `Error` schema lists them all).',
].join('\n')

export const openapiDefinition: NonNullable<Extract<SwaggerOptions, { openapi?: unknown }>['openapi']> = {
  openapi: '3.1.0',
  info: {
    title: 'Linked-clone service',
    version: '0.1.0',
    summary: 'Pools of VMware vSphere linked clones',
    description: [
      'Deploys batches of VMware vSphere linked clones from parent VMs with a snapshot, asynchronously,',
      "recording each clone's provenance and custom attributes in PostgreSQL.",
      '',
      SCOPES_TEXT,
      '',
      'Lists are paged: `limit` (default 100, at most 1,000) and `cursor` (the `nextCursor` of the page',
      'before); the next page is also named by a `Link: <...>; rel="next"` header.',
      '',
      'This document is generated from the service\'s route schemas (`npm run openapi`).',
    ].join('\n'),
    license: { name: 'UNLICENSED', identifier: 'UNLICENSED' },
  },
  // Relative: the reference page and clients call the service that served the document.
  servers: [{ url: '/', description: 'The service that serves this document' }],
  security: [{ bearer: [] }],
  tags: [
    { name: 'deployments', description: 'Deploying linked clones of a parent: plan, accept, follow the progress' },
    { name: 'clones', description: "The clones the service made: provenance, custom attributes and their history" },
    { name: 'pools', description: 'Named pools of clones: create, resize, refresh, recompose, strip back, drift and reconcile' },
    { name: 'parents', description: 'Parent VMs and their snapshots: prepare, list, remove, revert' },
    { name: 'reports', description: 'Space used by linked clones against full clones: measured and forecast' },
    { name: 'webhooks', description: 'Standard Webhooks subscriptions of the caller: events signed and sent when work ends, their deliveries' },
    { name: 'teams', description: "Teams' quotas (live clones, provisioned GB; set by admin) and their usage" },
    { name: 'audit', description: 'Every write, REST or GraphQL, accepted or refused (admin)' },
    { name: 'health', description: 'Liveness and readiness, without a token' },
    { name: 'graphql', description: 'The GraphQL API at /graphql: its published schema' },
  ],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT signed with the configured key; scopes in `scope`' },
    },
  },
}

/** A response whose description says more than its schema's: `described(Deployment, 'Accepted; ...')`. */
export const RESPONSE_DESCRIPTION = 'x-response-text'

/**
 * Replaces every sub-schema with an `$id` by a reference to the component of that name, collecting the
 * components (each once, without the `$id`) into `components`.
 */
export function liftNamedSchemas(schema: unknown, components: Map<string, Json>): unknown {
  if (Array.isArray(schema)) return schema.map((s) => liftNamedSchemas(s, components))
  if (!schema || typeof schema !== 'object') return schema
  const input = schema as Json
  const output: Json = {}
  const id = input.$id
  for (const [key, value] of Object.entries(input)) {
    // A response's headers (Location, Link) belong to the response, not to the named schema.
    if (key === '$id' || key === RESPONSE_DESCRIPTION || (key === 'headers' && typeof id === 'string')) continue
    output[key] = liftNamedSchemas(value, components)
  }
  const text = input[RESPONSE_DESCRIPTION]
  if (typeof id === 'string') {
    const known = components.get(id)
    if (known && JSON.stringify(known) !== JSON.stringify(output)) throw new Error(`two different schemas have the $id ${id}`)
    components.set(id, output)
    const ref: Json = { $ref: `#/components/schemas/${id}` }
    if (typeof text === 'string') ref.description = text
    if (input.headers) ref.headers = input.headers
    return ref
  }
  if (typeof text === 'string') output.description = text
  return output
}

/** The route's schema as the document shows it: named schemas lifted out, in every part. */
export function transformRouteSchema(schema: Json, components: Map<string, Json>): Json {
  const out: Json = { ...schema }
  for (const part of ['body', 'querystring', 'params', 'headers']) if (out[part]) out[part] = liftNamedSchemas(out[part], components)
  if (out.response) {
    out.response = Object.fromEntries(Object.entries(out.response as Json).map(([status, s]) => [status, liftNamedSchemas(s, components)]))
  }
  return out
}

const STATUS_TEXT: Record<string, string> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted: the work goes on in the background; `Location` names where to follow it',
  '204': 'No content',
}

const ERROR_TEXT: Record<string, string> = {
  '400': 'The request is not valid (malformed JSON, a missing field, a wrong type, a value out of range); `details.issues` says where',
  '401': 'No token, or one expired, malformed, wrongly signed or of another algorithm',
  '403': 'The token lacks the scope; `details.required` names it',
  '404': 'Not found; the code says what',
  '405': 'The path does not answer this method; `Allow` lists those it does',
  '409': 'In conflict with the current state; the code says with what. Nothing was changed',
  '410': 'Gone from vCenter; its records are kept',
  '413': 'The body is over 256 KiB',
  '415': 'The body is not sent as `application/json`',
  '422': 'Understood but cannot be done with what vCenter has; nothing was changed',
  '429': 'Too many requests from this caller (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_SECONDS); `Retry-After` says when to try again',
  '502': 'vCenter refused the change',
  '503': 'vCenter or the database cannot answer now; nothing was changed, try again',
}

const errorRef = { $ref: '#/components/schemas/Error' }

function errorResponse(status: string): Json {
  const codes = serviceErrorStatuses()
    .filter(([, s]) => String(s) === status)
    .map(([code]) => `\`${code}\``)
  const text = ERROR_TEXT[status] ?? 'Refused'
  return { description: codes.length ? `${codes.join(', ')}: ${text}.` : `${text}.`, content: { 'application/json': { schema: errorRef } } }
}

/** The last pass: descriptions everywhere, 413/415 on bodies, components sorted, the Error schema named. */
export function finishDocument(doc: Json, components: Map<string, Json>): Json {
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) {
      if (!operation || typeof operation !== 'object' || !('responses' in operation)) continue
      const responses = operation.responses as Record<string, Json>
      if (operation.requestBody) {
        responses['413'] ??= errorResponse('413')
        responses['415'] ??= errorResponse('415')
      }
      for (const [status, response] of Object.entries(responses)) {
        const isError = Number(status) >= 400
        // Errors are JSON also where the success is not (the SVG chart, the GraphQL SDL).
        const content = response.content as Record<string, { schema?: Json }> | undefined
        if (isError && content && Object.values(content).some((media) => media.schema?.$ref === errorRef.$ref)) {
          response.content = { 'application/json': { schema: errorRef } }
        }
        if (response.description === 'Default Response') {
          response.description = isError ? (errorResponse(status).description as string) : (STATUS_TEXT[status] ?? 'OK')
        }
      }
      operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)))
    }
  }
  const schemas = { ...((doc.components as Json | undefined)?.schemas as Json | undefined), ...Object.fromEntries(components) }
  doc.components = { ...(doc.components as Json), schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))) }
  // A tree, no object shared: YAML would write shared ones as anchors and aliases.
  return JSON.parse(JSON.stringify(doc)) as Json
}
