/**
 * The GraphQL layer's pure parts: pagination, notifications, the progress tracker and stream, parent
 * readiness, error presentation, and the rule that every root field declares its scope.
 */
import t from 'tap'
import { GraphQLError, buildSchema, type GraphQLEnumType, type GraphQLObjectType } from 'graphql'
import { CloneNotFound, NameConflict } from '../../src/errors.js'
import { ROOT_FIELD_SCOPES, requireScope } from '../../src/graphql/auth.js'
import { formatExecutionErrors, refusal, toGraphqlError } from '../../src/graphql/errors.js'
import { decodeCursor, encodeCursor, pageSize, toPage } from '../../src/graphql/pagination.js'
import { parentReadiness } from '../../src/modules/parents/readiness.js'
import { EventQueue } from '../../src/graphql/progress/event-queue.js'
import { parseNotification, timestampMicros, type CloneNotification } from '../../src/graphql/progress/notifications.js'
import type { ProgressSink } from '../../src/graphql/progress/pg-listener.js'
import { openProgressStream } from '../../src/graphql/progress/stream.js'
import { ProgressTracker, type ProgressEvent } from '../../src/graphql/progress/tracker.js'
import type { ProgressSnapshot } from '../../src/db/repositories/deployments.js'
import { typeDefs } from '../../src/modules/graphql-schema.js'
import type { ParentFacts } from '../../src/domain/plan.js'
import { countByStatus } from '../../src/domain/progress.js'

const DEPLOYMENT = '6f1c1c8e-6a2f-4a35-9d55-4c7c1d3c0a11'

t.test('every root field of the schema declares its scope', async (t) => {
  const schema = buildSchema(typeDefs)
  const roots = { Query: schema.getQueryType(), Mutation: schema.getMutationType(), Subscription: schema.getSubscriptionType() }
  for (const [name, type] of Object.entries(roots)) {
    const declared = ROOT_FIELD_SCOPES[name as keyof typeof ROOT_FIELD_SCOPES]
    t.same(Object.keys(type!.getFields()).sort(), Object.keys(declared).sort(), `${name}: fields and scopes match`)
  }
  t.equal(ROOT_FIELD_SCOPES.Mutation.deployLinkedClones, 'deployments:write')
  // Queries read; the plans need deployments:write, as REST's dry run does, and the audit admin.
  const expected = (field: string) => (field === 'auditEvents' ? 'admin' : ['planLinkedClones', 'planPool'].includes(field) ? 'deployments:write' : 'deployments:read')
  for (const [field, scope] of Object.entries(ROOT_FIELD_SCOPES.Query)) t.equal(scope, expected(field), `Query.${field}`)
  t.equal(ROOT_FIELD_SCOPES.Mutation.setTeamQuota, 'admin', 'quotas are set by admins')
})

t.test('the CloneStatus enum and the counts follow the statuses of the domain', async (t) => {
  const schema = buildSchema(typeDefs)
  const statuses = Object.keys(countByStatus([]))
  const cloneStatus = schema.getType('CloneStatus') as GraphQLEnumType
  t.same(cloneStatus.getValues().map((v) => v.name), statuses.map((s) => s.toUpperCase()))
  const counts = schema.getType('CloneStatusCounts') as GraphQLObjectType
  t.same(Object.keys(counts.getFields()), statuses.map((s) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())))
  t.ok(statuses.includes('powering_on') && Object.keys(counts.getFields()).includes('poweringOn'))
})

t.test('requireScope: no principal is UNAUTHORIZED, a missing scope FORBIDDEN, admin holds all', async (t) => {
  t.throws(() => requireScope({}, 'deployments:read'), { code: 'UNAUTHORIZED', statusCode: 401 })
  const reader = { sub: 'a', scopes: new Set(['deployments:read']), teams: ['user:a'], admin: false }
  t.throws(() => requireScope({ principal: reader }, 'deployments:write'), { code: 'FORBIDDEN', details: { required: 'deployments:write' } })
  t.equal(requireScope({ principal: reader }, 'deployments:read'), reader)
  t.ok(requireScope({ principal: { sub: 'r', scopes: new Set(['admin']), teams: ['user:r'], admin: true } }, 'deployments:write'))
})

t.test('page sizes and cursors', async (t) => {
  t.equal(pageSize(undefined), 100)
  t.equal(pageSize(1000), 1000)
  t.throws(() => pageSize(0), { code: 'VALIDATION_FAILED' })
  t.throws(() => pageSize(1001), { code: 'VALIDATION_FAILED' })
  const cursor = encodeCursor(['Capture01', 'id-1'])
  t.same(decodeCursor(cursor, 2), ['Capture01', 'id-1'])
  t.equal(decodeCursor(undefined, 2), undefined)
  t.throws(() => decodeCursor('not a cursor', 2), { code: 'VALIDATION_FAILED', details: { field: 'after' } })
  t.throws(() => decodeCursor(encodeCursor(['one']), 2), { code: 'VALIDATION_FAILED' })
  t.same(toPage([1, 2, 3], 2), { rows: [1, 2], hasNextPage: true })
  t.same(toPage([1, 2], 2), { rows: [1, 2], hasNextPage: false })
})

t.test('notification timestamps to the microsecond, in any time zone PostgreSQL prints', async (t) => {
  const base = Date.UTC(2026, 2, 1, 9, 30, 0) * 1000
  t.equal(timestampMicros('2026-03-01T09:30:00.123456+00:00'), base + 123456)
  t.equal(timestampMicros('2026-03-01T10:30:00.000001+01:00'), base + 1)
  t.equal(timestampMicros('2026-03-01T04:00:00.5-05:30'), base + 500000)
  t.equal(timestampMicros('2026-03-01T09:30:00Z'), base)
  t.equal(timestampMicros('2026-03-01T11:30:00+02'), base)
  t.throws(() => timestampMicros('yesterday'))
})

t.test('notifications are parsed from their channel; anything else is ignored', async (t) => {
  const clone = parseNotification(
    'clone_progress',
    JSON.stringify({ deploymentId: DEPLOYMENT, cloneId: 'c1', name: 'Capture01', status: 'cloning', moref: null, error: null, at: '2026-03-01T09:30:00.000002+00:00' }),
  )
  t.match(clone, { kind: 'clone', cloneId: 'c1', name: 'Capture01', status: 'cloning', moref: null, atMicros: Date.UTC(2026, 2, 1, 9, 30) * 1000 + 2 })
  const deployment = parseNotification('deployment_progress', JSON.stringify({ deploymentId: DEPLOYMENT, status: 'running', error: null, at: '2026-03-01T09:30:00+00:00' }))
  t.match(deployment, { kind: 'deployment', status: 'running' })
  t.equal(parseNotification('clone_progress', 'not json'), undefined)
  t.equal(parseNotification('clone_progress', JSON.stringify({ deploymentId: DEPLOYMENT })), undefined)
  t.equal(parseNotification('other', JSON.stringify({ deploymentId: DEPLOYMENT, status: 'x', at: '2026-03-01T09:30:00Z' })), undefined)
})

function snapshot(statuses: Record<string, [string, number]>, deployment: [string, number] = ['queued', 10]): ProgressSnapshot {
  return {
    deploymentId: DEPLOYMENT,
    status: deployment[0] as ProgressSnapshot['status'],
    error: null,
    atMicros: deployment[1],
    clones: Object.entries(statuses).map(([id, [status, at]]) => ({
      id,
      name: `Capture-${id}`,
      status: status as ProgressSnapshot['clones'][number]['status'],
      moref: null,
      error: null,
      atMicros: at,
    })),
  }
}

const cloneNotice = (cloneId: string, status: string, atMicros: number): CloneNotification => ({
  kind: 'clone',
  deploymentId: DEPLOYMENT,
  cloneId,
  name: `Capture-${cloneId}`,
  status: status as CloneNotification['status'],
  moref: null,
  error: null,
  atMicros,
})

t.test('the tracker reports each new step once, drops stale and repeated ones, and counts', async (t) => {
  const tracker = new ProgressTracker(snapshot({ a: ['pending', 10], b: ['cloning', 20] }))
  t.match(tracker.snapshotEvent(), { kind: 'snapshot', status: 'queued', progress: { total: 2, done: 0, byStatus: { pending: 1, cloning: 1 } } })
  t.equal(tracker.apply(cloneNotice('b', 'pending', 15)), undefined, 'older than what the snapshot shows')
  t.equal(tracker.apply(cloneNotice('b', 'cloning', 20)), undefined, 'what the snapshot shows')
  t.match(tracker.apply(cloneNotice('a', 'cloning', 30)), { kind: 'clone', clone: { id: 'a', status: 'cloning' }, progress: { byStatus: { cloning: 2 } } })
  t.equal(tracker.apply({ ...cloneNotice('a', 'ready', 40), deploymentId: 'another' }), undefined, 'another deployment')
  t.match(tracker.apply({ kind: 'deployment', deploymentId: DEPLOYMENT, status: 'running', error: null, atMicros: 31 }), { kind: 'deployment', status: 'running' })
  t.match(tracker.apply(cloneNotice('a', 'ready', 50)), { progress: { done: 1 } })
  t.match(tracker.apply(cloneNotice('b', 'failed', 51)), { progress: { done: 2, failed: 1 } })
  t.notOk(tracker.finished)
  const error = { code: 'CLONES_FAILED', message: '1 of 2 clones failed' }
  t.match(tracker.apply({ kind: 'deployment', deploymentId: DEPLOYMENT, status: 'failed', error, atMicros: 52 }), { status: 'failed', error })
  t.ok(tracker.finished)
})

t.test('reconcile reports what changed meanwhile, in order, the final status last', async (t) => {
  const tracker = new ProgressTracker(snapshot({ a: ['cloning', 10], b: ['cloning', 11] }, ['running', 5]))
  const events = tracker.reconcile(snapshot({ a: ['ready', 40], b: ['customizing', 30] }, ['succeeded', 40]))
  t.same(
    events.map((e) => [e.kind, e.clone?.id, e.clone?.status ?? e.status]),
    [
      ['clone', 'b', 'customizing'],
      ['clone', 'a', 'ready'],
      ['deployment', undefined, 'succeeded'],
    ],
  )
  t.same(tracker.reconcile(snapshot({ a: ['ready', 40], b: ['customizing', 30] }, ['succeeded', 40])), [], 'nothing new the second time')
})

t.test('parent readiness: the checks and codes of a deployment', async (t) => {
  const parent = (over: Partial<ParentFacts>): ParentFacts => ({
    name: 'Tmpl Capture 1.0',
    moref: 'vm-1',
    folder: 'group-v1',
    currentSnapshot: { moref: 'snapshot-1', name: 'Base' },
    attributes: new Map([['Customisation', 'Capture']]),
    hasNonPersistentDisk: false,
    ...over,
  })
  t.match(parentReadiness(parent({}), 'Customisation', true), { ready: true, customizationSpec: 'Capture', problems: [], warnings: [] })
  t.match(parentReadiness(parent({ currentSnapshot: undefined }), 'Customisation', true), {
    ready: false,
    problems: [{ code: 'SNAPSHOT_MISSING', message: /no current snapshot/ }],
  })
  t.match(parentReadiness(parent({}), 'Customisation', false), { ready: false, problems: [{ code: 'CUSTOMIZATION_SPEC_NOT_FOUND', message: /"Capture"/ }] })
  t.match(parentReadiness(parent({ attributes: new Map() }), 'Customisation', undefined), {
    customizationSpec: undefined,
    problems: [{ code: 'CUSTOMIZATION_SPEC_NOT_FOUND', message: /no value/ }],
  })
  t.match(parentReadiness(parent({ hasNonPersistentDisk: true }), 'Customisation', true), {
    ready: true,
    warnings: [{ code: 'PARENT_HAS_NONPERSISTENT_DISK' }],
  })
})

t.test('the event queue: pushed values in order; return() ends a waiting consumer at once', async (t) => {
  const queue = new EventQueue<number>()
  let cleaned = 0
  queue.onEnd(() => cleaned++)
  queue.push(1)
  queue.push(2)
  t.same(await queue.next(), { value: 1, done: false })
  t.same(await queue.next(), { value: 2, done: false })
  const waiting = queue.next()
  await queue.return()
  t.same(await waiting, { value: undefined, done: true })
  t.equal(cleaned, 1)
  queue.push(3)
  t.same(await queue.next(), { value: undefined, done: true }, 'nothing after the end')

  const ended = new EventQueue<number>()
  ended.push(7)
  ended.end()
  t.same(await ended.next(), { value: 7, done: false }, 'end() lets queued values be read')
  t.same(await ended.next(), { value: undefined, done: true })
})

t.test('a progress stream: snapshot first, early notifications sorted out, resync, completion', async (t) => {
  let sink: ProgressSink | undefined
  let unsubscribed = 0
  const snapshots = [snapshot({ a: ['cloning', 20] }, ['running', 5])]
  const listener = {
    async subscribe(_id: string, s: ProgressSink) {
      sink = s
      // Arrive before the snapshot is read: one it already shows, one newer.
      s.notify(cloneNotice('a', 'cloning', 20))
      s.notify(cloneNotice('a', 'customizing', 25))
      return () => unsubscribed++
    },
  }
  const stream = await openProgressStream({ listener, readSnapshot: async () => snapshots.shift(), onError: () => {} }, DEPLOYMENT)
  const events: ProgressEvent[] = []
  const next = async () => {
    const r = await stream.next()
    if (!r.done) events.push(r.value)
    return r
  }
  await next()
  await next()
  t.same(events.map((e) => [e.kind, e.clone?.status]), [['snapshot', undefined], ['clone', 'customizing']])

  sink!.notify(cloneNotice('a', 'powering_on', 30))
  await next()
  // The connection was lost: the fresh snapshot shows a step and the end that were missed.
  snapshots.push(snapshot({ a: ['ready', 50] }, ['succeeded', 51]))
  sink!.resync()
  await next()
  await next()
  t.same(
    events.slice(2).map((e) => [e.kind, e.clone?.status ?? e.status]),
    [
      ['clone', 'powering_on'],
      ['clone', 'ready'],
      ['deployment', 'succeeded'],
    ],
  )
  t.same(await stream.next(), { value: undefined, done: true }, 'completes once final')
  t.equal(unsubscribed, 1)

  await t.rejects(
    openProgressStream({ listener, readSnapshot: async () => undefined, onError: () => {} }, DEPLOYMENT),
    { code: 'DEPLOYMENT_NOT_FOUND' },
  )
  t.equal(unsubscribed, 2, 'unsubscribed when the deployment does not exist')
})

t.test('errors: service codes and details, refusals, graphql-js errors, and hidden bugs', async (t) => {
  const logged: unknown[] = []
  const context = { app: { log: { error: (obj: object) => logged.push(obj) } } }
  const conflict = toGraphqlError(new NameConflict({ names: ['Capture01'] }, 'Capture01'))
  const bug = new GraphQLError('relation "x" does not exist', { originalError: new Error('relation "x" does not exist') })
  const notFound = new GraphQLError('wrapped', { originalError: new CloneNotFound({ name: 'X' }, 'X'), path: ['clone'] })
  const result = formatExecutionErrors(
    { data: { clone: null }, errors: [conflict, notFound, refusal('QUERY_TOO_DEEP', 'too deep'), new GraphQLError('Syntax Error: Unexpected'), new GraphQLError('Cannot query field "x"'), bug] },
    context,
  )
  t.equal(result.statusCode, 200, 'partial data: 200')
  t.same(
    result.response.errors.map((e) => e.extensions),
    [
      { code: 'NAME_CONFLICT', details: { names: ['Capture01'] } },
      { code: 'CLONE_NOT_FOUND', details: { name: 'X' } },
      { code: 'QUERY_TOO_DEEP' },
      { code: 'GRAPHQL_PARSE_FAILED' },
      { code: 'GRAPHQL_VALIDATION_FAILED' },
      { code: 'INTERNAL_ERROR' },
    ],
  )
  t.same(result.response.errors[1]!.path, ['clone'])
  t.notMatch(result.response.errors[5]!.message, /relation/, 'a bug does not leak its message')
  t.equal(logged.length, 1, 'and is logged')
  t.equal(formatExecutionErrors({ errors: [conflict] }, context).statusCode, 409, 'no data: the error status')
  t.equal(formatExecutionErrors({ errors: [refusal('QUERY_TOO_COSTLY', 'costly')] }, context).statusCode, 400)
})
