/**
 * The contract cannot drift: the committed openapi.yaml and schema.graphql are what the code generates,
 * the document is clean OpenAPI 3.1 (every operation named, summarised and tagged; no `nullable`, no
 * `allOf` over a closed schema), and the running service serves both, the GraphQL schema also where
 * introspection is off (production).
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { CONTRACT_FILES, generateContract } from '../../../scripts/lib/contract.js'
import { startTestService, type TestService } from '../../helpers/service.js'

const committed = (name: string) => readFile(new URL(`../../../${name}`, import.meta.url), 'utf8')
type Json = Record<string, any>

t.test('the committed contract files are the generated ones', async (t) => {
  const generated = await generateContract()
  for (const name of CONTRACT_FILES) {
    t.ok(generated[name] === (await committed(name)), `${name} is up to date (if not: run \`npm run openapi\` and commit it)`)
  }
})

/** Every sub-schema of the document, with where it is. */
function* schemasOf(node: unknown, path = '#'): Generator<[string, Json]> {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* schemasOf(item, `${path}/${i}`)
    return
  }
  if (!node || typeof node !== 'object') return
  yield [path, node as Json]
  for (const [key, value] of Object.entries(node)) yield* schemasOf(value, `${path}/${key}`)
}

t.test('the document: every operation named, summarised and tagged; no construct a strict 3.1 validator refuses', async (t) => {
  const doc = parseYaml(await committed('openapi.yaml'))
  t.equal(doc.openapi, '3.1.0')
  const tags = new Map<string, string>((doc.tags as Json[]).map((tag) => [tag.name, tag.description]))
  const ids = new Set<string>()
  let operations = 0
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(ops)) {
      operations++
      const where = `${method.toUpperCase()} ${path}`
      t.match(op.operationId, /^[a-z][A-Za-z]+$/, `${where} has an operationId`)
      t.notOk(ids.has(op.operationId), `${where}: ${op.operationId} is unique`)
      ids.add(op.operationId)
      t.ok(op.summary, `${where} has a summary`)
      t.ok(op.tags?.length && op.tags.every((tag: string) => tags.get(tag)), `${where} has tags, each declared with a description`)
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        t.not(response.description, 'Default Response', `${where} ${status} is described`)
        // 204 No Content has no body to describe; every other answer does.
        if (status === '204') t.notOk(response.content, `${where} 204 has no body`)
        else t.ok(response.content, `${where} ${status} has a body schema`)
        // Every error is an Error in JSON; only readiness answers 503 in its own shape.
        if (Number(status) >= 400 && path !== '/health/ready') {
          t.same(response.content, { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } }, `${where} ${status} is an Error, in JSON`)
        }
      }
    }
  }
  t.ok(operations >= 27, `${operations} operations`)
  const closed = new Set(
    Object.entries(doc.components.schemas as Record<string, Json>)
      .filter(([, s]) => s.additionalProperties === false)
      .map(([name]) => `#/components/schemas/${name}`),
  )
  for (const [where, schema] of schemasOf(doc)) {
    t.notOk('nullable' in schema && typeof schema.nullable === 'boolean', `no nullable at ${where}`)
    if (Array.isArray(schema.allOf)) {
      t.notOk(schema.allOf.some((s: Json) => s.additionalProperties === false || closed.has(s.$ref)), `no allOf over a closed schema at ${where}`)
    }
  }
})

t.test('served: /openapi.json and /openapi.yaml without a token, /graphql/schema.graphql with one even where introspection is off', async (t) => {
  const service: TestService = await startTestService({ runWorkers: false, env: { NODE_ENV: 'production' } })
  t.teardown(() => service.stop())
  const yamlText = await committed('openapi.yaml')

  const asJson = await service.app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(asJson.statusCode, 200)
  t.match(asJson.headers['content-type'], /^application\/json/)
  t.same(asJson.json(), parseYaml(yamlText), 'the served document is the committed one')

  const asYaml = await service.app.inject({ method: 'GET', url: '/openapi.yaml' })
  t.equal(asYaml.statusCode, 200)
  t.match(asYaml.headers['content-type'], /^application\/yaml/)
  t.equal(asYaml.body, yamlText)

  const docs = await service.app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
  t.match(docs.body, /swagger-ui/)

  const sdl = await committed('schema.graphql')
  const anonymous = await service.app.inject({ method: 'GET', url: '/graphql/schema.graphql' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'UNAUTHORIZED')
  const served = await service.app.inject({ method: 'GET', url: '/graphql/schema.graphql', headers: service.auth('deployments:read') })
  t.equal(served.statusCode, 200)
  t.match(served.headers['content-type'], /^text\/plain/)
  t.equal(served.body, sdl, 'the served schema is the committed schema.graphql')

  const introspection = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { ...service.auth('deployments:read'), 'content-type': 'application/json' },
    payload: { query: '{ __schema { types { name } } }' },
  })
  t.match(introspection.json(), { errors: [{ extensions: { code: 'INTROSPECTION_DISABLED' } }] }, 'introspection is off here')
})
