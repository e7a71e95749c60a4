/**
 * Idempotency keys on GraphQL mutations: a retried deployLinkedClones under one key makes one
 * deployment and answers the first answer again (Idempotent-Replayed: true); other variables under the
 * key are 422 IDEMPOTENCY_KEY_REUSED; concurrent retries make one deployment; queries ignore the key.
 */
import t from 'tap'
import { startTestService, type TestService } from '../../helpers/service.js'

let service: TestService
t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(async () => {
  await service?.stop()
})

const DEPLOY = `mutation Deploy($input: DeployLinkedClonesInput!) {
  deployLinkedClones(input: $input) { id status clones { name } }
}`

const mutate = (key: string | undefined, variables: Record<string, unknown>, sub = 'portal-user') =>
  service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth('deployments:read deployments:write', sub), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { query: DEPLOY, variables },
  })

/** A refusal's code: in the GraphQL answer's errors (mercurius formats a preHandler's refusal there too). */
const codeOf = (res: { json(): any }) => res.json().errors?.[0]?.extensions?.code ?? res.json().code

const deploymentsOf = async (ticket: string) =>
  (await service.app.database.pool.query('SELECT id FROM deployments WHERE ticket = $1', [ticket])).rows.map((r) => r.id as string)

t.test('a retried mutation under one key: one deployment, the first answer replayed', async (t) => {
  const input = { parent: 'Tmpl Capture 1.0', count: 2, prefix: 'GqlIdem', ticket: 'RITM-GQL-IDEM-1' }
  const first = await mutate('gql-key-1', { input })
  t.equal(first.statusCode, 200)
  const deployment = first.json().data.deployLinkedClones
  t.ok(deployment.id, first.body)
  t.notOk(first.headers['idempotent-replayed'])

  const again = await mutate('gql-key-1', { input })
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal(again.body, first.body, 'the same answer, byte for byte')
  t.same(await deploymentsOf(input.ticket), [deployment.id], 'one deployment')

  const without = await mutate(undefined, { input })
  // Without a key a retry is a new request: with startNumber left to the service, a second batch.
  const second = without.json().data?.deployLinkedClones
  t.ok(second && second.id !== deployment.id, `without the key, a retry deploys again: ${without.body}`)
  t.equal((await deploymentsOf(input.ticket)).length, 2)
})

t.test('other variables under the key: 422 IDEMPOTENCY_KEY_REUSED, nothing done', async (t) => {
  const input = { parent: 'Tmpl Capture 1.0', count: 1, prefix: 'GqlReuse', ticket: 'RITM-GQL-IDEM-2' }
  t.equal((await mutate('gql-key-2', { input })).statusCode, 200)
  const other = await mutate('gql-key-2', { input: { ...input, count: 2, prefix: 'GqlReuseB' } })
  t.equal(other.statusCode, 422)
  t.equal(codeOf(other), 'IDEMPOTENCY_KEY_REUSED')
  t.equal((await deploymentsOf(input.ticket)).length, 1)
})

t.test('concurrent retries under one key make one deployment', async (t) => {
  const input = { parent: 'Tmpl Capture 1.0', count: 1, prefix: 'GqlRace', ticket: 'RITM-GQL-IDEM-3' }
  const answers = await Promise.all(Array.from({ length: 8 }, () => mutate('gql-key-3', { input })))
  const ok = answers.filter((a) => a.statusCode === 200 && a.json().data?.deployLinkedClones)
  const busy = answers.filter((a) => a.statusCode === 409)
  t.equal(ok.length + busy.length, 8, answers.map((a) => `${a.statusCode} ${a.body}`).join('\n'))
  t.ok(busy.every((a) => codeOf(a) === 'IDEMPOTENCY_KEY_IN_USE' && a.headers['retry-after']), 'the others: in use, with Retry-After')
  t.equal(new Set(ok.map((a) => a.json().data.deployLinkedClones.id)).size, 1, 'every success names the one deployment')
  t.equal((await deploymentsOf(input.ticket)).length, 1)
})

t.test("a query ignores the key; keys are each caller's own", async (t) => {
  const query = (key: string) =>
    service.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { ...service.auth('deployments:read'), 'idempotency-key': key },
      payload: { query: '{ deployments(first: 1) { edges { node { id } } } }' },
    })
  const a = await query('gql-key-query')
  const b = await query('gql-key-query')
  t.equal(a.statusCode, 200)
  t.notOk(b.headers['idempotent-replayed'], 'queries are not replayed')

  const input = { parent: 'Tmpl Capture 1.0', count: 1, prefix: 'GqlOwn', ticket: 'RITM-GQL-IDEM-4' }
  const mine = await mutate('gql-key-shared', { input })
  const theirs = await mutate('gql-key-shared', { input: { ...input, prefix: 'GqlOwnB', ticket: 'RITM-GQL-IDEM-5' } }, 'another-user')
  t.equal(mine.statusCode, 200)
  t.equal(theirs.statusCode, 200, 'the same key of another caller is theirs')
  t.notOk(theirs.headers['idempotent-replayed'])
  t.equal((await deploymentsOf('RITM-GQL-IDEM-5')).length, 1)
})

t.test('an unauthenticated mutation with a key claims nothing and is refused as GraphQL refuses it', async (t) => {
  const res = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'idempotency-key': 'gql-key-anon' },
    payload: { query: DEPLOY, variables: { input: { parent: 'Tmpl Capture 1.0', count: 1 } } },
  })
  t.equal(res.statusCode, 401)
  const count = await service.app.database.pool.query(`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'gql-key-anon'`)
  t.equal(count.rows[0].n, 0)
})
