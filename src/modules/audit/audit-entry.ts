/**
 * What the audit records of one answered write: REST (every POST, PUT, PATCH and DELETE under /v1)
 * and GraphQL (a mutation over HTTP), from the request, its route and its answer.
 */
import { Kind, parse, valueFromASTUntyped, type OperationDefinitionNode } from 'graphql'
import type { AuditOutcome } from '../../db/schema.js'
import type { Principal } from '../../http/auth-plugin.js'
import { ROOT_FIELD_SCOPES } from '../../graphql/auth.js'
import type { NewAuditEvent } from './audit-service.js'

export const AUDITED_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const REFUSED_CODES = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'TEAM_FORBIDDEN'])
/** Longer text (a refused request's fields) is cut: the audit records, it does not store bodies. */
const MAX_TEXT = 500

type Json = Record<string, unknown>

export interface AnsweredRequest {
  method: string
  /** The route's pattern: /v1/pools/:name/refresh. */
  route: string
  params: Json
  /** The query string's fields (a DELETE's ticket is one). */
  query?: Json
  body: unknown
  requestId: string
  principal: Principal | undefined
  /** The scope the route requires (REST). */
  scope: string | undefined
  statusCode: number
  /** The answer's bytes, when JSON text. */
  payload: string | undefined
}

const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v)
const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v.slice(0, MAX_TEXT) : typeof v === 'number' ? String(v) : null)

function parsed(payload: string | undefined): Json | undefined {
  if (payload === undefined || payload.length > 4 * 1024 * 1024) return undefined
  try {
    const value: unknown = JSON.parse(payload)
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** refused for 401/403 (and their codes), succeeded for 2xx without error, failed otherwise. */
export function outcomeOf(statusCode: number, errorCode: string | null): AuditOutcome {
  if (statusCode === 401 || statusCode === 403 || (errorCode !== null && REFUSED_CODES.has(errorCode))) return 'refused'
  if (statusCode >= 200 && statusCode < 300 && errorCode === null) return 'succeeded'
  return 'failed'
}

/** The object's team when the answer shows it, else the team the request named, else the caller's only team. */
function teamOf(answer: Json | undefined, named: unknown, principal: Principal | undefined): string | null {
  const shown = answer && (text(answer.team) ?? [answer.pool, answer.deployment, answer.clone].filter(isObject).map((o) => text(o.team)).find(Boolean))
  if (shown) return shown
  const asked = text(named)
  if (asked) return asked
  return principal && principal.teams.length === 1 ? principal.teams[0]! : null
}

/** "/v1/pools/:name/refresh" -> "/v1/pools/{name}/refresh" (the contract's spelling). */
const pattern = (route: string) => route.replace(/:(\w+)/g, '{$1}')

/** The resource the route is under: /v1/pools/... -> pool. */
function objectTypeOf(route: string): string | null {
  const resource = route.split('/')[2]
  return resource ? resource.replace(/s$/, '') : null
}

export function restEntry(r: AnsweredRequest): NewAuditEvent {
  const answer = parsed(r.payload)
  const errorCode = r.statusCode >= 400 ? text(answer?.code) : null
  const body = isObject(r.body) ? r.body : {}
  const ok = r.statusCode < 400
  const objectId =
    text(r.params.name) ?? text(r.params.id) ?? text(body.name) ?? (ok ? (text(answer?.id) ?? text(answer?.name)) : null)
  const paramNames = Object.keys(r.params)
  return {
    sub: r.principal?.sub ?? null,
    team: teamOf(ok ? answer : undefined, body.team, r.principal),
    scope: r.scope ?? null,
    operation: `${r.method} ${pattern(r.route)}`,
    objectType: objectTypeOf(r.route),
    objectId,
    outcome: outcomeOf(r.statusCode, errorCode),
    statusCode: r.statusCode,
    errorCode,
    requestId: r.requestId,
    ticket: text(body.ticket) ?? text(r.query?.ticket),
    details: paramNames.length > 1 ? { params: Object.fromEntries(paramNames.map((n) => [n, text(r.params[n])])) } : null,
  }
}

/** The mutation a GraphQL request asked for: its root fields (each with its arguments' values). */
export interface AskedMutation {
  fields: { name: string; alias: string; args: Json }[]
}

/** The mutation of a GraphQL request's body, or undefined for a query, a subscription or text that does not parse. */
export function mutationOf(body: unknown): AskedMutation | undefined {
  if (!isObject(body) || typeof body.query !== 'string') return undefined
  let operations: OperationDefinitionNode[]
  try {
    operations = parse(body.query).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
  } catch {
    return undefined
  }
  const name = typeof body.operationName === 'string' ? body.operationName : undefined
  const op = name === undefined ? (operations.length === 1 ? operations[0] : undefined) : operations.find((o) => o.name?.value === name)
  if (!op || op.operation !== 'mutation') return undefined
  const variables = isObject(body.variables) ? body.variables : {}
  const fields = op.selectionSet.selections.flatMap((s) => {
    if (s.kind !== Kind.FIELD) return []
    const args = Object.fromEntries((s.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value, variables)]))
    return [{ name: s.name.value, alias: s.alias?.value ?? s.name.value, args }]
  })
  return fields.length > 0 ? { fields } : undefined
}

const MUTATION_OBJECT_TYPES: Record<string, string> = { deployLinkedClones: 'deployment', setCloneAttributes: 'clone' }

export function graphqlEntry(r: AnsweredRequest, mutation: AskedMutation): NewAuditEvent {
  const [field] = mutation.fields as [AskedMutation['fields'][number]]
  const answer = parsed(r.payload)
  const errors = Array.isArray(answer?.errors) ? answer.errors.filter(isObject) : []
  const first = errors[0]
  const errorCode = first && isObject(first.extensions) ? text(first.extensions.code) : null
  const data = isObject(answer?.data) ? answer.data : undefined
  const result = data && isObject(data[field.alias]) ? (data[field.alias] as Json) : undefined
  const input = isObject(field.args.input) ? field.args.input : {}
  const objectId = text(field.args.name) ?? text(field.args.clone) ?? text(input.name) ?? text(result?.id) ?? text(result?.name)
  return {
    sub: r.principal?.sub ?? null,
    team: teamOf(result, input.team ?? field.args.team, r.principal),
    scope: ROOT_FIELD_SCOPES.Mutation[field.name] ?? null,
    operation: `mutation ${field.name}`,
    objectType: MUTATION_OBJECT_TYPES[field.name] ?? (/Pool$/.test(field.name) ? 'pool' : null),
    objectId,
    outcome: outcomeOf(r.statusCode, errorCode),
    statusCode: r.statusCode,
    errorCode,
    requestId: r.requestId,
    ticket: text(input.ticket) ?? text(field.args.ticket),
    details: mutation.fields.length > 1 ? { fields: mutation.fields.map((f) => f.name) } : null,
  }
}
