/**
 * No N+1: listing 1,000 clones with their parent, snapshot, deployment and attributes costs a fixed,
 * small number of SQL queries, counted for real at the app's connection pool while the GraphQL
 * request runs. The 1,000 clones are real: two deployments of 500 through the API, carried out
 * against the simulator (no simulated delays), so every clone has its attributes, steps and morefs.
 */
import t from 'tap'
import { startTestService, waitForDeployment, type TestService } from '../helpers/service.js'
import { gql, queryCounter } from '../helpers/graphql.js'

let service: TestService
/** Counts the queries made on behalf of a request, not the workers' polling meanwhile. */
let countQueries: ReturnType<typeof queryCounter>

t.before(async () => {
  service = await startTestService()
  countQueries = queryCounter(service)
})
t.teardown(() => service?.stop())

const LIST = /* GraphQL */ `
  query Pool($first: Int!) {
    clones(first: $first) {
      totalCount
      pageInfo { hasNextPage }
      nodes {
        name
        status
        moref
        parent { name moref }
        snapshot { name moref }
        deployment { id requester ticket status }
        attributes { name value }
      }
    }
  }
`

t.test('1,000 clones with parent, snapshot, deployment and attributes: 4 SQL queries', async (t) => {
  const started = Date.now()
  for (const [parent, ticket] of [
    ['Tmpl Capture 1.0', 'RITM0000001'],
    ['Tmpl Packaging 1.0', 'RITM0000002'],
  ] as const) {
    const res = await gql(service, `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ... on Deployment { id } } }`, {
      // From 100: the simulator already has a VM named Capture99.
      input: { parent, count: 500, startNumber: 100, ticket },
    })
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    // A deadline, not a speed check: on a loaded 2-core machine 500 clones can take minutes.
    const done = await waitForDeployment(service, res.body.data!.deployLinkedClones.id, 500_000)
    t.equal(done.status, 'succeeded')
  }
  t.comment(`deployed 2 x 500 linked clones in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  const { result: res, queries } = await countQueries(() => gql(service, LIST, { first: 1000 }, 'deployments:read'))
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const { nodes, totalCount, pageInfo } = res.body.data!.clones
  t.equal(nodes.length, 1000)
  t.equal(totalCount, 1000)
  t.equal(pageInfo.hasNextPage, false)
  t.ok(nodes.every((c: any) => c.status === 'READY' && c.moref && c.deployment.requester === 'portal-user'))
  t.same(new Set(nodes.map((c: any) => c.parent.name)), new Set(['Tmpl Capture 1.0', 'Tmpl Packaging 1.0']))
  t.ok(nodes.every((c: any) => c.snapshot.name === 'Base' && c.attributes.length === 11))
  const secrets = nodes.flatMap((c: any) => c.attributes.filter((a: any) => /Password/.test(a.name)).map((a: any) => a.value))
  t.equal(secrets.length, 2000)
  t.ok(secrets.every((v: string) => v === '***'), 'Password attributes redacted without secrets:read')

  // The page, its count, the two deployments (which give parent and snapshot), the attributes.
  t.comment(`SQL queries for 1,000 clones: ${queries.length}`)
  t.equal(queries.length, 4, 'four queries', { queries })
  t.equal(queries.filter((q) => /from "clones"/.test(q)).length, 2, 'the page and its count')
  t.equal(queries.filter((q) => /from "deployments"/.test(q)).length, 1, 'one batch of deployments')
  t.equal(queries.filter((q) => /from "clone_attributes"/.test(q)).length, 1, 'one batch of attributes')

  // With secrets:read the secrets are opened, and their reveal recorded: one insert more. The auditor
  // is a member of the deployer's (personal) team, so it sees the same clones.
  const revealing = await countQueries(() => gql(service, LIST, { first: 1000 }, 'deployments:read secrets:read', 'auditor', ['user:portal-user']))
  t.equal(revealing.result.statusCode, 200, JSON.stringify(revealing.result.body.errors))
  t.ok(revealing.result.body.data!.clones.nodes.every((c: any) => c.attributes.some((a: any) => a.value === 'S3cret<&>')))
  t.equal(revealing.queries.length, 5, 'the same four and the record of the reveals', { queries: revealing.queries })
  t.equal(revealing.queries.filter((q) => /insert into "attribute_history"/.test(q)).length, 1)

  // Without totalCount, and with each clone's steps: still a fixed number (no count, one batch of steps).
  const withSteps = await countQueries(() =>
    gql(service, `{ clones(first: 1000) { nodes { name deployment { prefix } steps { step } attributes { name } } } }`, {}, 'deployments:read'),
  )
  t.equal(withSteps.result.statusCode, 200, JSON.stringify(withSteps.result.body.errors))
  // Each clone's steps, batched, are exactly the ones recorded for it (the guest's customization among them).
  const recorded = await service.app.database.pool.query(
    `SELECT c.name, array_agg(s.step ORDER BY s.id) AS steps FROM clone_steps s JOIN clones c ON c.id = s.clone_id GROUP BY c.name`,
  )
  const stepsByName = new Map(recorded.rows.map((r: { name: string; steps: string[] }) => [r.name, r.steps.join(',')]))
  const mismatched = withSteps.result.body.data!.clones.nodes.filter(
    (c: any) => c.steps.map((s: any) => s.step.toLowerCase()).join(',') !== stepsByName.get(c.name),
  )
  t.same(mismatched.map((c: any) => c.name), [], 'every clone with the steps recorded for it')
  t.ok(
    [...stepsByName.values()].every((steps) => steps.split(',').includes('guest_customizing')),
    'the guest step is among them',
  )
  t.equal(withSteps.queries.length, 4, 'page, deployments, steps, attributes', { queries: withSteps.queries })

  // Deployments with all their clones' attributes: one query per kind of record too.
  const nested = await countQueries(() =>
    gql(service, `{ deployments(first: 10) { nodes { id progress { done } clones { name attributes { name } } } } }`, {}, 'deployments:read'),
  )
  t.equal(nested.result.statusCode, 200, JSON.stringify(nested.result.body.errors))
  t.same(
    nested.result.body.data!.deployments.nodes.map((d: any) => [d.progress.done, d.clones.length]),
    [
      [500, 500],
      [500, 500],
    ],
  )
  t.equal(nested.queries.length, 4, 'page, progress counts, clones, attributes', { queries: nested.queries })
})
