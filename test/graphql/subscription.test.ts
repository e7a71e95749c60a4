/**
 * deploymentProgress over a real WebSocket (graphql-transport-ws), across replicas: the subscriber
 * holds its WebSocket on an API-only process (no workers), and the clone jobs run in a second process
 * of the service on the same database. Every step reaches the subscriber through PostgreSQL's
 * LISTEN/NOTIFY. Also: the token is checked at connection_init, scopes and hardening apply, and a
 * lost LISTEN connection is made again without losing steps.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { LISTENER_APPLICATION_NAME } from '../../src/graphql/progress/pg-listener.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { gql, invalidAuthorizations, listen, WsClient, type WsMessage } from '../helpers/graphql.js'

let api: TestService
let url: string

t.before(async () => {
  api = await startTestService({ runWorkers: false })
  url = await listen(api.app)
})
t.teardown(() => api?.stop())

const PROGRESS = /* GraphQL */ `
  subscription Progress($id: ID!) {
    deploymentProgress(id: $id) {
      kind deploymentId status at
      clone { name status moref error { code } }
      progress { total done failed byStatus { pending ready } }
    }
  }
`

async function accept(t: Test, parent: string, count: number, startNumber: number): Promise<string> {
  const res = await gql(api, `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ... on Deployment { id } } }`, {
    input: { parent, count, startNumber },
  })
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  return res.body.data!.deployLinkedClones.id
}

/** A connection acknowledged for a token with these scopes. */
async function connect(scope = 'deployments:read'): Promise<WsClient> {
  const client = await WsClient.connect(url)
  client.send({ type: 'connection_init', payload: { authorization: `Bearer ${api.token(scope)}` } })
  await client.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  return client
}

const events = (messages: WsMessage[], id = '1') =>
  messages.filter((m) => m.type === 'next' && m.id === id).map((m) => m.payload.data.deploymentProgress)

t.test('each clone step, run by another process, reaches the subscriber as it happens', async (t) => {
  const id = await accept(t, 'Tmpl Verification 1.0', 3, 1)
  const client = await connect()
  t.teardown(() => client.close())
  client.send({ type: 'subscribe', id: '1', payload: { query: PROGRESS, variables: { id } } })
  await client.until((m) => events(m).length >= 1, 10_000)
  t.match(events(client.messages)[0], {
    kind: 'SNAPSHOT',
    deploymentId: id,
    status: 'QUEUED',
    clone: null,
    progress: { total: 3, done: 0, byStatus: { pending: 3 } },
  })

  // Nothing runs in the subscriber's process: a second process takes the jobs.
  const worker: FastifyInstance = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  t.teardown(() => worker.close())
  await worker.ready()
  const messages = await client.until((m) => m.some((x) => x.type === 'complete' && x.id === '1'), 120_000)
  t.notOk(messages.some((m) => m.type === 'error'), 'no error')

  const received = events(messages)
  const last = received.at(-1)
  t.match(last, { kind: 'DEPLOYMENT', status: 'SUCCEEDED', progress: { total: 3, done: 3, failed: 0, byStatus: { ready: 3 } } })
  t.same(
    received.filter((e) => e.kind === 'DEPLOYMENT').map((e) => e.status),
    ['RUNNING', 'SUCCEEDED'],
    'the deployment starts, then succeeds, last',
  )
  for (const name of ['Verification01', 'Verification02', 'Verification03']) {
    const steps = received.filter((e) => e.clone?.name === name)
    t.same(
      steps.map((e) => e.clone.status),
      ['CLONING', 'CUSTOMIZING', 'POWERING_ON', 'GUEST_CUSTOMIZING', 'SETTING_ATTRIBUTES', 'READY'],
      `${name}: every step, once, in order`,
    )
    t.ok(steps.slice(1).every((e) => /^vm-/.test(e.clone.moref)), `${name}: its VM from the moment it exists`)
    // Events come in commit order; `at` is each change's transaction time, ordered per clone.
    t.same(steps.map((e) => e.at), steps.map((e) => e.at).sort(), `${name}: in the order they happened`)
  }
  const done = received.map((e) => e.progress.done)
  t.same(done, [...done].sort((a, b) => a - b), 'done only grows')
  const rest = await api.app.inject({ method: 'GET', url: `/v1/deployments/${id}`, headers: api.auth('deployments:read') })
  t.equal(rest.json().status, 'succeeded')
})

t.test("a strip back's subscribers see the clones it destroys, as GET /v1/deployments/{id} lists them", async (t) => {
  const rest = (method: 'POST' | 'DELETE' | 'GET', path: string, payload?: object) =>
    api.app.inject({ method, url: path, headers: api.auth(), ...(payload ? { payload } : {}) })
  const created = await rest('POST', '/v1/pools', { name: 'sub', parent: 'Tmpl Packaging 1.0', prefix: 'Sub', startNumber: 1, size: 2 })
  t.equal(created.statusCode, 202, created.body)
  const worker: FastifyInstance = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  await worker.ready()
  for (const deadline = Date.now() + 120_000; ; ) {
    const d = (await rest('GET', `/v1/deployments/${created.json().deploymentId}`)).json()
    if (d.status === 'succeeded') break
    if (d.status === 'failed' || Date.now() > deadline) throw new Error(`the pool's deployment is ${d.status}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  await worker.close()

  // Accepted while no worker runs: the subscriber sees the whole strip back.
  const strip = await rest('DELETE', '/v1/pools/sub')
  t.equal(strip.statusCode, 202, strip.body)
  const id = strip.json().deploymentId
  const client = await connect()
  t.teardown(() => client.close())
  const query = /* GraphQL */ `
    subscription Progress($id: ID!) {
      deploymentProgress(id: $id) {
        kind status clone { name status } progress { total done byStatus { destroying destroyed } }
      }
    }
  `
  client.send({ type: 'subscribe', id: '1', payload: { query, variables: { id } } })
  await client.until((m) => events(m).length >= 1, 10_000)
  t.match(events(client.messages)[0], { kind: 'SNAPSHOT', status: 'QUEUED', progress: { total: 2, done: 0, byStatus: { destroying: 2 } } })

  const again: FastifyInstance = await buildApp({ config: api.config, databaseUrl: api.db.url, runWorkers: true })
  t.teardown(() => again.close())
  await again.ready()
  const messages = await client.until((m) => m.some((x) => x.type === 'complete' && x.id === '1'), 120_000)
  const received = events(messages)
  t.same(
    received.filter((e) => e.kind === 'CLONE').map((e) => `${e.clone.name} ${e.clone.status}`).sort(),
    ['Sub01 DESTROYED', 'Sub02 DESTROYED'],
    'each clone destroyed, under the strip back',
  )
  t.match(received.at(-1), { kind: 'DEPLOYMENT', status: 'SUCCEEDED', progress: { total: 2, done: 2, byStatus: { destroyed: 2 } } })
})

t.test('the token is checked at connection_init', async (t) => {
  const noToken = await WsClient.connect(url)
  noToken.send({ type: 'connection_init', payload: {} })
  await noToken.untilClosed(10_000)
  t.match(noToken.messages, [{ type: 'connection_error' }], 'no token: refused')
  t.ok(noToken.closed, 'and closed')

  for (const [what, authorization] of invalidAuthorizations(api)) {
    const client = await WsClient.connect(url)
    client.send({ type: 'connection_init', payload: { authorization } })
    await client.untilClosed(10_000)
    t.notOk(client.messages.some((m) => m.type === 'connection_ack'), `${what}: not acknowledged`)
    t.ok(client.closed, `${what}: closed`)
  }

  const subscribeFirst = await WsClient.connect(url)
  subscribeFirst.send({ type: 'subscribe', id: '1', payload: { query: PROGRESS, variables: { id: 'x' } } })
  await subscribeFirst.untilClosed(10_000)
  t.notOk(subscribeFirst.messages.some((m) => m.type === 'next'), 'no data before connection_init')
  t.ok(subscribeFirst.closed)

  // mercurius's own client sends the headers nested: accepted as well.
  const nested = await WsClient.connect(url)
  t.teardown(() => nested.close())
  nested.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${api.token('deployments:read')}` } } })
  const acknowledged = await nested.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  t.ok(acknowledged.some((x) => x.type === 'connection_ack'), 'headers nested in the payload are accepted')
  t.notOk(nested.closed, 'and the connection stays open')
})

t.test('a subscription needs deployments:read, an existing deployment and a query within limits', async (t) => {
  const id = await accept(t, 'Tmpl Capture 1.0', 1, 40)
  const errorOf = async (client: WsClient, subscriptionId: string, query: string, variables: Record<string, unknown>) => {
    client.send({ type: 'subscribe', id: subscriptionId, payload: { query, variables } })
    const messages = await client.until((m) => m.some((x) => x.id === subscriptionId && x.type === 'error'), 10_000)
    t.notOk(messages.some((m) => m.id === subscriptionId && m.type === 'next'), 'no data')
    return messages.find((m) => m.id === subscriptionId && m.type === 'error')!.payload[0]
  }

  const writer = await connect('deployments:write')
  t.teardown(() => writer.close())
  t.match(await errorOf(writer, 'a', PROGRESS, { id }), { extensions: { code: 'FORBIDDEN', details: { required: 'deployments:read' } } })

  const reader = await connect('deployments:read')
  t.teardown(() => reader.close())
  t.match(await errorOf(reader, 'b', PROGRESS, { id: '6f1c1c8e-6a2f-4a35-9d55-4c7c1d3c0a11' }), { extensions: { code: 'DEPLOYMENT_NOT_FOUND' } })
  t.match(await errorOf(reader, 'c', `subscription { deploymentProgress(id: "x") { nope } }`, {}), { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })
  const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: kind`).join(' ')
  t.match(await errorOf(reader, 'd', `subscription($id: ID!) { deploymentProgress(id: $id) { ${aliases} } }`, { id }), {
    extensions: { code: 'TOO_MANY_ALIASES' },
  })
})

t.test('a lost LISTEN connection is made again, and no step is lost meanwhile', async (t) => {
  const id = await accept(t, 'Tmpl Packaging 1.0', 2, 1)
  const [first, second] = (
    await api.app.database.pool.query('SELECT id, name FROM clones WHERE deployment_id = $1 ORDER BY number', [id])
  ).rows as { id: string; name: string }[]
  const client = await connect()
  t.teardown(() => client.close())
  client.send({ type: 'subscribe', id: '1', payload: { query: PROGRESS, variables: { id } } })
  await client.until((m) => events(m).length >= 1, 10_000)

  const sql = api.app.database.pool
  const listening = async () =>
    (await sql.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [LISTENER_APPLICATION_NAME])).rows as { pid: number }[]
  const [listener] = await listening()
  t.ok(listener, 'the listening connection is there')
  // An administrator (or a failover) ends it; a step is committed before it is back.
  await sql.query('SELECT pg_terminate_backend($1)', [listener!.pid])
  await sql.query(`UPDATE clones SET status = 'cloning', updated_at = now() WHERE id = $1`, [first!.id])

  await client.until((m) => events(m).some((e) => e.clone?.name === first!.name), 15_000)
  const again = await listening()
  t.equal(again.length, 1, 'listening again')
  t.not(again[0]!.pid, listener!.pid, 'on a new connection')

  await sql.query(`UPDATE clones SET status = 'cloning', updated_at = now() WHERE id = $1`, [second!.id])
  await client.until((m) => events(m).some((e) => e.clone?.name === second!.name), 15_000)
  t.same(
    events(client.messages).slice(1).map((e) => [e.kind, e.clone?.name, e.clone?.status]),
    [
      ['CLONE', first!.name, 'CLONING'],
      ['CLONE', second!.name, 'CLONING'],
    ],
    'each step once',
  )
})
