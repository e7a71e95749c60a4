/**
 * What one query may ask: depth 10, 15 aliases, a cost of 100,000 records, one operation per request,
 * introspection and GraphiQL only outside production. Each refusal has its code and a message that
 * says the limit. The rules alone on small schemas, then through the service in development and in
 * production.
 */
import t from 'tap'
import { buildSchema, parse, specifiedRules, validate } from 'graphql'
import { LIMITS, aliasLimit, costLimit, depthLimit, hardeningRules } from '../../src/graphql/hardening.js'
import { typeDefs } from '../../src/modules/graphql-schema.js'
import { startTestService, type TestService } from '../helpers/service.js'
import { codes, gql } from '../helpers/graphql.js'

const schema = buildSchema(typeDefs)
const check = (query: string, rules = hardeningRules({ introspection: true })) =>
  validate(schema, parse(query), [...specifiedRules, ...rules]).map((e) => ({ code: e.extensions.code, message: e.message, details: e.extensions.details }))

/** A query nested `levels` fields deep through Clone.deployment and Deployment.clones. */
function nested(levels: number): string {
  let body = 'name'
  for (let depth = levels - 1; depth >= 2; depth--) body = depth % 2 === 0 ? `deployment { ${body} }` : `clones { ${body} }`
  return `{ clone(name: "x") { ${body} } }`
}

t.test('depth: 10 levels pass, 11 are refused, fragments included and cycles harmless', async (t) => {
  const tree = buildSchema(`type Query { node: Node } type Node { child: Node name: String }`)
  const chain = (n: number) => `{ ${'node { '.repeat(1)}${'child { '.repeat(n - 2)}name${' }'.repeat(n - 1)} }`
  const rule = depthLimit(10)
  t.same(validate(tree, parse(chain(10)), [rule]), [])
  const [refused] = validate(tree, parse(chain(11)), [rule])
  t.match(refused, { message: 'The query nests fields 11 deep; the limit is 10', extensions: { code: 'QUERY_TOO_DEEP', details: { depth: 11, limit: 10 } } })
  const viaFragment = `query Deep { node { ...F } } fragment F on Node { ${'child { '.repeat(9)}name${' }'.repeat(9)} }`
  t.match(validate(tree, parse(viaFragment), [rule]), [{ message: /^"Deep" nests fields 11 deep/ }])
  const cycle = `{ node { ...A } } fragment A on Node { child { ...A } }`
  t.same(validate(tree, parse(cycle), [rule]), [], 'a fragment cycle terminates (NoFragmentCycles reports it)')

  // On the service's schema.
  t.notOk(check(nested(10)).some((e) => e.code === 'QUERY_TOO_DEEP'))
  t.match(check(nested(11)), [{ code: 'QUERY_TOO_DEEP' }])
})

t.test('aliases: 15 pass, 16 are refused', async (t) => {
  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: deployments(first: 1) { totalCount }`).join(' ')} }`
  t.same(check(aliased(15)), [])
  t.match(check(aliased(16)), [{ code: 'TOO_MANY_ALIASES', message: 'The query uses 16 aliases; the limit is 15', details: { aliases: 16, limit: 15 } }])
  t.same(validate(schema, parse(aliased(16)), [aliasLimit(20)]), [])
})

t.test('cost: records the query may return, lists at their largest', async (t) => {
  const cost = (query: string) => {
    const [e] = validate(schema, parse(query), [costLimit(0)])
    return e?.extensions.details as { cost: number } | undefined
  }
  t.same(cost(`{ clones(limit: 1000) { nodes { name attributes { name value } } } }`), { cost: 1000, limit: 0 }, 'attributes are not records')
  t.same(cost(`{ clones(limit: 1000) { nodes { deployment { id } parent { name } snapshot { name } } } }`), { cost: 2000, limit: 0 })
  t.same(cost(`{ clones(first: 1000) { nodes { deployment { id } } } }`), { cost: 2000, limit: 0 }, 'the deprecated first counts as limit')
  t.same(cost(`{ clones(limit: 10) { edges { node { steps { step } } } } }`), { cost: 110, limit: 0 }, 'edges size like nodes; 10 steps a clone')
  t.same(cost(`{ clones { nodes { name } } }`), { cost: 100, limit: 0 }, 'no limit: the default page')
  t.same(cost(`query($n: Int) { clones(limit: $n) { nodes { name } } }`), { cost: 1000, limit: 0 }, 'a variable: the largest page')
  t.same(cost(`query($n: Int = 5) { clones(limit: $n) { nodes { name } } }`), { cost: 5, limit: 0 }, "unless it has a default")
  t.same(cost(`{ deployment(id: "x") { clones { name } } }`), { cost: 2001, limit: 0 }, 'a deployment has up to 2,000 clones')
  const deploy = 'deployLinkedClones(input: { parent: "x", count: 1 })'
  t.same(cost(`mutation { ${deploy} { ... on Deployment { clones { name } } } }`), { cost: 2001, limit: 0 }, 'inline fragments count')
  t.same(cost(`mutation { ${deploy} { ...D } } fragment D on Deployment { clones { name } }`), { cost: 2001, limit: 0 }, 'named fragments too')
  t.same(cost(`{ clones(limit: 10) { nodes { history(limit: 50) { nodes { name } } } } }`), { cost: 510, limit: 0 }, 'history entries are records')
  t.same(cost(`{ pools(limit: 20) { nodes { clones { name } deployments { id } } } }`), { cost: 20 * (1 + 2000 + 10), limit: 0 }, 'pools: a page of 20, each with up to 2,000 clones and 10 deployments')
  t.same(cost(`{ pools { nodes { name } } }`), { cost: 100, limit: 0 }, 'pools: the default page')
  t.same(cost(`{ parents(limit: 10) { nodes { name clones(limit: 30) { nodes { name } } } } }`), { cost: 310, limit: 0 }, "parents and a parent's clones: their pages")
  t.same(cost(`{ a: clones(limit: 3) { nodes { name } } b: clones(limit: 4) { nodes { ...F } } } fragment F on Clone { deployment { id } }`), { cost: 11, limit: 0 })

  t.same(check(`{ clones(limit: 1000) { nodes { name parent { name } snapshot { name } deployment { id ticket } attributes { name value } steps { step } } } }`), [], '1,000 clones with everything pass')
  const [refused] = check(`{ clones(limit: 1000) { nodes { deployment { clones { name } } } } }`)
  t.match(refused, {
    code: 'QUERY_TOO_COSTLY',
    message: /may return up to 2002000 records; the limit is 100000/,
    details: { cost: 2_002_000, limit: LIMITS.cost },
  })
})

t.test('introspection: a rule in production only; __typename always', async (t) => {
  const production = hardeningRules({ introspection: false })
  t.match(check(`{ __schema { types { name } } }`, production), [{ code: 'INTROSPECTION_DISABLED', message: /__schema/ }])
  t.match(check(`{ __type(name: "Clone") { name } }`, production), [{ code: 'INTROSPECTION_DISABLED' }])
  t.same(check(`{ clones { __typename } }`, production), [])
  t.same(check(`{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name ofType { name } } } } } } } } }`), [], 'deep introspection in development: GraphiQL needs it')
})

t.test('through the service, in development', async (t) => {
  const service = await startTestService()
  t.teardown(() => service.stop())

  const deep = await gql(service, nested(11), {}, 'deployments:read')
  t.equal(deep.statusCode, 400)
  t.ok(codes(deep).includes('QUERY_TOO_DEEP'))
  t.equal(deep.body.data, null)

  const costly = await gql(service, `{ clones(first: 1000) { nodes { deployment { clones { name } } } } }`, {}, 'deployments:read')
  t.equal(costly.statusCode, 400)
  t.same(codes(costly), ['QUERY_TOO_COSTLY'])

  const aliases = await gql(service, `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: clones(first: 1) { totalCount }`).join(' ')} }`, {}, 'deployments:read')
  t.equal(aliases.statusCode, 400)
  t.same(codes(aliases), ['TOO_MANY_ALIASES'])

  const batched = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: service.auth('deployments:read'),
    payload: [{ query: '{ clones { totalCount } }' }, { query: '{ deployments { totalCount } }' }],
  })
  t.equal(batched.statusCode, 400)
  t.match(batched.json(), { data: null, errors: [{ message: /Batched queries are disabled/, extensions: { code: 'BATCHED_QUERIES_DISABLED' } }] })

  const unknown = await gql(service, `{ clones { nodes { nope } } }`, {}, 'deployments:read')
  t.equal(unknown.statusCode, 400)
  t.same(codes(unknown), ['GRAPHQL_VALIDATION_FAILED'])
  const syntax = await gql(service, `{ clones { `, {}, 'deployments:read')
  t.same(codes(syntax), ['GRAPHQL_PARSE_FAILED'])
  const badVariable = await gql(service, `query($n: Int) { clones(first: $n) { totalCount } }`, { n: 'ten' }, 'deployments:read')
  t.same(codes(badVariable), ['GRAPHQL_VALIDATION_FAILED'])
  const notJson = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth('deployments:read'), 'content-type': 'application/json' },
    payload: '{"query": ',
  })
  t.equal(notJson.statusCode, 400)
  t.same(notJson.json().errors.map((e: any) => e.extensions.code), ['VALIDATION_FAILED'])

  const introspection = await gql(service, `{ __schema { queryType { name } } }`, {}, 'deployments:read')
  t.same(introspection.body.data, { __schema: { queryType: { name: 'Query' } } })
  const graphiql = await service.app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(graphiql.statusCode, 200, 'GraphiQL served')
})

t.test('through the service, in production: no introspection, no GraphiQL', async (t) => {
  const service: TestService = await startTestService({ env: { NODE_ENV: 'production' } })
  t.teardown(() => service.stop())
  const introspection = await gql(service, `{ __schema { queryType { name } } }`, {}, 'deployments:read')
  t.equal(introspection.statusCode, 400)
  t.same(codes(introspection), ['INTROSPECTION_DISABLED'])
  t.match(introspection.body.errors![0]!.message, /disabled in production/)
  const graphiql = await service.app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(graphiql.statusCode, 404)
  const ordinary = await gql(service, `{ clones { totalCount __typename } }`, {}, 'deployments:read')
  t.same(ordinary.body.data, { clones: { totalCount: 0, __typename: 'CloneConnection' } })
})
