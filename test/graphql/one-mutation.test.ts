/**
 * One mutation per GraphQL request: every mutation starts vCenter work or changes records, so a
 * request holding two (aliases, fragments) is refused before anything runs, 400 TOO_MANY_MUTATIONS,
 * and is audited as failed; queries keep their own limits.
 */
import t from 'tap'
import { buildSchema, parse, specifiedRules, validate } from 'graphql'
import { hardeningRules, mutationLimit } from '../../src/graphql/hardening.js'
import { typeDefs } from '../../src/modules/graphql-schema.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { codes, gql } from '../helpers/graphql.js'

const PARENT = 'Tmpl Capture 1.0'
const schema = buildSchema(typeDefs)
const check = (query: string) =>
  validate(schema, parse(query), [...specifiedRules, ...hardeningRules({ introspection: true })]).map((e) => ({
    code: e.extensions.code,
    message: e.message,
    details: e.extensions.details,
  }))

t.test('the rule: one root field per mutation, through aliases and fragments', async (t) => {
  t.same(check('mutation { stripPool(name: "a") { pool { name } } }'), [])
  t.same(check('mutation { __typename stripPool(name: "a") { pool { name } } }'), [], '__typename does nothing')
  t.same(check('{ pools { nodes { name } } clones { totalCount } deployments { totalCount } }'), [], 'queries are not counted')
  t.match(check('mutation Two { a: stripPool(name: "a") { pool { name } } b: stripPool(name: "b") { pool { name } } }'), [
    {
      code: 'TOO_MANY_MUTATIONS',
      message: '"Two" asks for 2 mutations (stripPool, stripPool); send one mutation per request',
      details: { mutations: 2, limit: 1 },
    },
  ])
  t.match(
    check('mutation { ...M resizePool(name: "a", size: 2) { pool { name } } } fragment M on Mutation { stripPool(name: "b") { pool { name } } }'),
    [{ code: 'TOO_MANY_MUTATIONS', details: { mutations: 2 } }],
    'a fragment spread counts',
  )
  t.match(check('mutation { ... on Mutation { stripPool(name: "b") { pool { name } } } refreshPool(name: "a") { pool { name } } }'), [
    { code: 'TOO_MANY_MUTATIONS' },
  ])
  const tree = buildSchema('type Query { a: Int } type Mutation { x: Int y: Int z: Int }')
  t.same(validate(tree, parse('mutation { x y }'), [mutationLimit(2)]), [])
  t.equal(validate(tree, parse('mutation { x y z }'), [mutationLimit(2)]).length, 1)
})

let service: TestService
t.test('through the service: refused before anything runs, and audited', async (t) => {
  service = await startTestService({ runWorkers: false })
  t.teardown(() => service.stop())
  const CREATE = `mutation Both($a: CreatePoolInput!) {
    a: createPool(input: $a) { pool { name } }
    b: deployLinkedClones(input: { parent: "${PARENT}", count: 1, prefix: "Sneaky", startNumber: 1 }) { id }
  }`
  const res = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth(), 'x-request-id': 'two-mutations' },
    payload: {
      query: CREATE,
      variables: { a: { name: 'one', parent: PARENT, prefix: 'One', startNumber: 1, size: 1 } },
    },
  })
  t.equal(res.statusCode, 400)
  t.same(codes({ statusCode: res.statusCode, body: res.json() }), ['TOO_MANY_MUTATIONS'])
  t.match(res.json(), { data: null, errors: [{ message: /asks for 2 mutations \(createPool, deployLinkedClones\)/ }] })
  const { rows } = await service.app.database.pool.query('SELECT (SELECT count(*) FROM pools)::int AS pools, (SELECT count(*) FROM deployments)::int AS deployments')
  t.same(rows[0], { pools: 0, deployments: 0 }, 'nothing recorded')

  // Audited: the first mutation named, both in details.
  let audit: Record<string, any> | undefined
  for (const deadline = Date.now() + 15_000; !audit && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    audit = (await service.app.database.pool.query("SELECT * FROM audit_events WHERE request_id = 'two-mutations'")).rows[0]
  }
  t.match(audit, {
    sub: 'portal-user',
    operation: 'mutation createPool',
    outcome: 'failed',
    status_code: 400,
    error_code: 'TOO_MANY_MUTATIONS',
    details: { fields: ['createPool', 'deployLinkedClones'] },
  })

  const one = await gql(service, 'mutation($input: CreatePoolInput!) { createPool(input: $input) { pool { name } } }', {
    input: { name: 'single', parent: PARENT, prefix: 'Single', startNumber: 1, size: 1 },
  })
  t.equal(one.statusCode, 200, JSON.stringify(one.body))
  t.equal(one.body.data!.createPool.pool.name, 'single', 'one mutation runs')
})
