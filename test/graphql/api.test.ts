/**
 * Every query and the mutation against the simulator and PostgreSQL, with REST's authorization:
 * no token no data, a scope per field, Password attributes redacted without secrets:read, and the
 * mutation's checks and error codes equal to POST /v1/deployments'.
 */
import t from 'tap'
import { startTestService, waitForDeployment, type TestService } from '../helpers/service.js'
import { codes, gql as teamGql, invalidAuthorizations } from '../helpers/graphql.js'

/**
 * Every caller of this file is in one team (`lab`): the tests read, as one sub, what another made
 * (team isolation has its own tests: test/modules/deployments/teams.test.ts and the matrix).
 */
const LAB = ['lab']
const gql = (...[s, query, variables, scope, sub = 'portal-user']: Parameters<typeof teamGql>) => teamGql(s, query, variables, scope, sub, LAB)
const auth = (scope?: string, sub?: string) => service.auth(scope, sub, LAB)

let service: TestService
/** Deployments made in before(): Capture01-03 by portal-user, Packaging01-02 by ticket-bot. */
let capture: { id: string }
let packaging: { id: string }

const DEPLOY = /* GraphQL */ `
  mutation Deploy($input: DeployLinkedClonesInput!) {
    deployLinkedClones(input: $input) {
      __typename
      ... on Deployment {
      id status prefix count startNumber requester ticket customizationSpec customizationAttribute copiedAttributes
      parent { name moref } snapshot { name moref }
      warnings { code message } error { code }
      createdAt startedAt finishedAt durationSeconds
      progress { total done failed byStatus { pending ready } }
      clones { name status instanceUuid moref }
      }
    }
  }
`

async function deploy(input: Record<string, unknown>, scope = 'deployments:write', sub = 'portal-user') {
  return gql(service, DEPLOY, { input }, scope, sub)
}

t.before(async () => {
  service = await startTestService()
  const first = await deploy({ parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1, ticket: 'RITM0012345' })
  const second = await deploy({ parent: 'Tmpl Packaging 1.0', count: 2, startNumber: 1 }, 'deployments:write', 'ticket-bot')
  capture = first.body.data!.deployLinkedClones
  packaging = second.body.data!.deployLinkedClones
  await waitForDeployment(service, capture.id)
  await waitForDeployment(service, packaging.id)
})
t.teardown(() => service?.stop())

t.test('deployLinkedClones answers the queued deployment, as POST /v1/deployments does', async (t) => {
  const res = await deploy({ parent: 'Tmpl Verification 1.0', count: 2, startNumber: 5, ticket: 'RITM7', attributes: ['Project', 'Role'] })
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const d = res.body.data!.deployLinkedClones
  t.match(d, {
    status: 'QUEUED',
    prefix: 'Verification',
    count: 2,
    startNumber: 5,
    requester: 'portal-user',
    ticket: 'RITM7',
    customizationSpec: 'Verification',
    customizationAttribute: 'Customisation',
    copiedAttributes: ['Project', 'Role'],
    parent: { name: 'Tmpl Verification 1.0', moref: /^vm-/ },
    snapshot: { name: 'Base', moref: /^snapshot-/ },
    warnings: [],
    error: null,
    startedAt: null,
    durationSeconds: null,
    progress: { total: 2, done: 0, failed: 0, byStatus: { pending: 2, ready: 0 } },
  })
  t.same(d.clones.map((c: any) => [c.name, c.status, c.moref]), [
    ['Verification05', 'PENDING', null],
    ['Verification06', 'PENDING', null],
  ])
  const rest = await service.app.inject({ method: 'GET', url: `/v1/deployments/${d.id}`, headers: auth('deployments:read') })
  t.equal(rest.statusCode, 200, 'the same deployment over REST')
  t.same(rest.json().clones.map((c: any) => c.instanceUuid), d.clones.map((c: any) => c.instanceUuid))
  const done = await waitForDeployment(service, d.id)
  t.equal(done.status, 'succeeded')

  const kiosk = await deploy({ parent: 'Tmpl Kiosk 1.0', count: 1, startNumber: 1 })
  t.same(kiosk.body.data!.deployLinkedClones.warnings.map((w: any) => w.code), ['PARENT_HAS_NONPERSISTENT_DISK'])
  await waitForDeployment(service, kiosk.body.data!.deployLinkedClones.id)
})

t.test('deployLinkedClones refuses with the codes and statuses of POST /v1/deployments, and creates nothing', async (t) => {
  const cases: [string, Record<string, unknown>, string, number][] = [
    ['no such parent', { parent: 'Tmpl Nothing 1.0', count: 1, startNumber: 1 }, 'PARENT_NOT_FOUND', 404],
    ['no snapshot', { parent: 'Tmpl NoSnap 1.0', count: 1, startNumber: 1 }, 'SNAPSHOT_MISSING', 422],
    ['no customization spec', { parent: 'Tmpl NoSpec 1.0', count: 1, startNumber: 1 }, 'CUSTOMIZATION_SPEC_NOT_FOUND', 422],
    ['a name taken in vCenter', { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 98 }, 'NAME_CONFLICT', 409],
    ['count 0', { parent: 'Tmpl Capture 1.0', count: 0, startNumber: 1 }, 'VALIDATION_FAILED', 400],
    ['count 2001', { parent: 'Tmpl Capture 1.0', count: 2001, startNumber: 1 }, 'VALIDATION_FAILED', 400],
    ['a prefix vCenter would escape', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, prefix: 'a/b' }, 'VALIDATION_FAILED', 400],
    ['an empty ticket', { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1, ticket: '' }, 'VALIDATION_FAILED', 400],
  ]
  const before = await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  for (const [what, input, code, status] of cases) {
    const res = await deploy(input)
    const rest = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: auth('deployments:write'), payload: input })
    t.same(codes(res), [code], what)
    t.equal(res.statusCode, status, `${what}: HTTP ${status}`)
    t.equal(rest.json().code, code, `${what}: REST says ${code} too`)
    // The same details; a field's path names GraphQL's input rather than REST's body.
    const restDetails = JSON.parse(JSON.stringify(rest.json().details ?? null).replaceAll('"body/', '"input/'))
    t.same(res.body.errors![0]!.extensions!.details ?? null, restDetails, `${what}: same details`)
    t.equal(res.body.data, null)
  }
  const conflict = await deploy({ parent: 'Tmpl Capture 1.0', count: 2, startNumber: 98 })
  t.same(conflict.body.errors![0]!.extensions!.details, { names: ['Capture99'] })
  const tooMany = await deploy({ parent: 'Tmpl Capture 1.0', count: 2001, startNumber: 1 })
  t.match(tooMany.body.errors![0], { message: /input\/count/, extensions: { details: { issues: [{ path: 'input/count' }] } } })
  const after = await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  t.equal(after.rows[0].n, before.rows[0].n, 'no deployment was recorded')

  const readOnly = await deploy({ parent: 'Tmpl Capture 1.0', count: 1, startNumber: 50 }, 'deployments:read')
  t.same(codes(readOnly), ['FORBIDDEN'])
  t.equal(readOnly.statusCode, 403)
  t.same(readOnly.body.errors![0]!.extensions!.details, { required: 'deployments:write' })
})

t.test('deployLinkedClones takes hostLimit and maxConcurrent as POST /v1/deployments does', async (t) => {
  const res = await gql(
    service,
    `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ... on Deployment { id hostLimit maxConcurrent clones { host } } } }`,
    { input: { parent: 'Tmpl Verification 1.0', count: 4, startNumber: 20, hostLimit: 1, maxConcurrent: 2 } },
    'deployments:write',
  )
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const d = res.body.data!.deployLinkedClones
  t.match(d, { hostLimit: 1, maxConcurrent: 2 })
  t.equal(new Set(d.clones.map((c: any) => c.host)).size, 1, 'every clone placed on the one host allowed')
  const rest = await service.app.inject({ method: 'GET', url: `/v1/deployments/${d.id}`, headers: auth('deployments:read') })
  t.match(rest.json(), { hostLimit: 1, maxConcurrent: 2 }, 'recorded as REST records them')
  t.equal((await waitForDeployment(service, d.id)).status, 'succeeded')

  const unlimited = await gql(service, `query($id: ID!) { deployment(id: $id) { hostLimit maxConcurrent } }`, { id: capture.id }, 'deployments:read')
  t.same(unlimited.body.data!.deployment, { hostLimit: 8, maxConcurrent: null }, 'the defaults when not given')

  for (const [what, extra] of [
    ['hostLimit 0', { hostLimit: 0 }],
    ['maxConcurrent 0', { maxConcurrent: 0 }],
    ['maxConcurrent 641', { maxConcurrent: 641 }],
  ] as [string, Record<string, number>][]) {
    const input = { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 60, ...extra }
    const refused = await deploy(input)
    const rest = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: auth('deployments:write'), payload: input })
    t.same(codes(refused), ['VALIDATION_FAILED'], what)
    t.equal(rest.json().code, 'VALIDATION_FAILED', `${what}: REST too`)
    t.same(refused.body.errors![0]!.extensions!.details, JSON.parse(JSON.stringify(rest.json().details).replaceAll('"body/', '"input/')), `${what}: same details`)
  }
})

t.test('planLinkedClones answers the plan of POST /v1/deployments with dryRun, and changes nothing', async (t) => {
  const PLAN = /* GraphQL */ `
    query($input: DeployLinkedClonesInput!) {
      planLinkedClones(input: $input) {
        __typename
        dryRun parent { name moref } snapshot { name moref createdAt } prefix startNumber startNumberChosen customizationSpec copiedAttributes
        clones { name host } hosts { moref name clones } hostLimit
        checks { check passed detail } warnings { code message }
        estimate { concurrency waves seconds secondsPerClone guestSeconds }
      }
    }
  `
  const input = { parent: 'Tmpl Capture 1.0', count: 5, startNumber: 40, hostLimit: 2, maxConcurrent: 3 }
  const deployments = (await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')).rows[0].n
  await service.sim.resetStats()
  const res = await gql(service, PLAN, { input }, 'deployments:write')
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const plan = res.body.data!.planLinkedClones
  t.equal(plan.__typename, 'DeploymentPlan')
  t.equal(plan.startNumberChosen, false, 'the startNumber asked for')
  const rest = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: auth('deployments:write'), payload: { ...input, dryRun: true } })
  t.equal(rest.statusCode, 200)
  const { attributes, ...restPlan } = rest.json()
  const { __typename, copiedAttributes, ...graphqlPlan } = plan
  t.same(graphqlPlan, restPlan, 'the same plan, field for field')
  t.same(copiedAttributes, attributes)
  t.same(plan.clones.map((c: any) => c.name), ['Capture40', 'Capture41', 'Capture42', 'Capture43', 'Capture44'])
  t.ok(plan.hosts.length <= 2, 'within the host limit')
  t.ok(plan.checks.every((c: any) => c.passed))
  t.equal(plan.estimate.concurrency, 3, 'maxConcurrent is the tightest limit')

  const stats = await service.sim.stats()
  t.notOk(stats.methods.CloneVM_Task, 'nothing cloned')
  t.equal((await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')).rows[0].n, deployments, 'nothing recorded')
  const names = await gql(service, `{ clones(filter: { prefix: "Capture4" }) { totalCount } }`, {}, 'deployments:read')
  t.equal(names.body.data!.clones.totalCount, 0)

  // A dry run is refused as a deployment would be, with the same codes.
  const refused = await gql(service, PLAN, { input: { ...input, parent: 'Tmpl Nothing 1.0' } }, 'deployments:write')
  t.same(codes(refused), ['PARENT_NOT_FOUND'])
  t.equal(refused.statusCode, 404)
  const readOnly = await gql(service, PLAN, { input }, 'deployments:read')
  t.same(codes(readOnly), ['FORBIDDEN'], 'a dry run needs deployments:write, as over REST')
  const deployed = await deploy({ parent: 'Tmpl Verification 1.0', count: 1, startNumber: 30 })
  t.equal(deployed.body.data!.deployLinkedClones.__typename, 'Deployment', 'deployLinkedClones answers a Deployment')
  await waitForDeployment(service, deployed.body.data!.deployLinkedClones.id)
})

t.test('without a startNumber: the lowest number from which every name is free, and the plan says it chose it', async (t) => {
  const PLAN = `query($input: DeployLinkedClonesInput!) { planLinkedClones(input: $input) { prefix startNumber startNumberChosen clones { name } } }`
  // before() made Capture01-03: the next free run starts at 04.
  const res = await gql(service, PLAN, { input: { parent: 'Tmpl Capture 1.0', count: 2 } }, 'deployments:write')
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  t.match(res.body.data!.planLinkedClones, { prefix: 'Capture', startNumber: 4, startNumberChosen: true, clones: [{ name: 'Capture04' }, { name: 'Capture05' }] })
  const fresh = await gql(service, PLAN, { input: { parent: 'Tmpl Capture 1.0', prefix: 'Fresh', count: 2 } }, 'deployments:write')
  t.match(fresh.body.data!.planLinkedClones, { prefix: 'Fresh', startNumber: 1, startNumberChosen: true }, 'a new prefix starts at 1')
  const rest = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: auth('deployments:write'),
    payload: { parent: 'Tmpl Capture 1.0', count: 2, dryRun: true },
  })
  t.equal(rest.statusCode, 200)
  t.match(rest.json(), { startNumber: 4, startNumberChosen: true }, 'REST chooses the same')
})

t.test('deployment(id): the whole deployment with its clones and progress', async (t) => {
  const res = await gql(
    service,
    `query($id: ID!) { deployment(id: $id) { id status requester ticket durationSeconds startedAt finishedAt
       progress { total done failed byStatus { ready } } clones { name status moref host deployment { id } } } }`,
    { id: capture.id },
    'deployments:read',
  )
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const d = res.body.data!.deployment
  t.match(d, { id: capture.id, status: 'SUCCEEDED', requester: 'portal-user', ticket: 'RITM0012345', progress: { total: 3, done: 3, failed: 0, byStatus: { ready: 3 } } })
  t.type(d.durationSeconds, 'number')
  t.ok(Date.parse(d.finishedAt) >= Date.parse(d.startedAt))
  t.same(d.clones.map((c: any) => c.name), ['Capture01', 'Capture02', 'Capture03'])
  t.ok(d.clones.every((c: any) => c.status === 'READY' && /^vm-/.test(c.moref) && c.host && c.deployment.id === capture.id))

  for (const id of ['6f1c1c8e-6a2f-4a35-9d55-4c7c1d3c0a11', 'not-a-uuid']) {
    const missing = await gql(service, `query($id: ID!) { deployment(id: $id) { id } }`, { id }, 'deployments:read')
    t.equal(missing.statusCode, 200)
    t.same(missing.body.data, { deployment: null })
    t.match(missing.body.errors, [{ path: ['deployment'], extensions: { code: 'DEPLOYMENT_NOT_FOUND', details: { id } } }])
  }
})

t.test('deployments: newest first, filtered, paged with cursors', async (t) => {
  const all = await gql(service, `{ deployments(first: 1000) { totalCount nodes { id parent { name } requester } } }`, {}, 'deployments:read')
  const ids: string[] = all.body.data!.deployments.nodes.map((d: any) => d.id)
  t.equal(all.body.data!.deployments.totalCount, ids.length)
  t.ok(ids.indexOf(packaging.id) < ids.indexOf(capture.id), 'newest first')

  const paged: string[] = []
  let after: string | null = null
  for (;;) {
    const page: any = await gql(
      service,
      `query($after: String) { deployments(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`,
      { after },
      'deployments:read',
    )
    const { edges, pageInfo } = page.body.data.deployments
    paged.push(...edges.map((e: any) => e.node.id))
    t.equal(pageInfo.endCursor, edges.at(-1)?.cursor ?? null)
    if (!pageInfo.hasNextPage) break
    after = pageInfo.endCursor
  }
  t.same(paged, ids, 'pages of 2 give every deployment once, in order')

  const ticketBot = await gql(service, `{ deployments(filter: { requester: "ticket-bot" }) { nodes { id } } }`, {}, 'deployments:read')
  t.same(ticketBot.body.data!.deployments.nodes, [{ id: packaging.id }])
  const byParent = await gql(
    service,
    `{ deployments(filter: { parent: "Tmpl Capture 1.0", status: SUCCEEDED }) { totalCount nodes { id } } }`,
    {},
    'deployments:read',
  )
  t.same(byParent.body.data!.deployments, { totalCount: 1, nodes: [{ id: capture.id }] })
  const failed = await gql(service, `{ deployments(filter: { status: FAILED }) { totalCount } }`, {}, 'deployments:read')
  t.equal(failed.body.data!.deployments.totalCount, 0)

  t.same(codes(await gql(service, `{ deployments(first: 0) { totalCount } }`, {}, 'deployments:read')), ['VALIDATION_FAILED'])
  t.same(codes(await gql(service, `{ deployments(after: "bogus") { totalCount } }`, {}, 'deployments:read')), ['VALIDATION_FAILED'])
})

t.test('clone(name): provenance, attributes and the steps it went through', async (t) => {
  const res = await gql(
    service,
    `{ clone(name: "Capture02") { name number status moref instanceUuid host readyAt
        parent { name moref } snapshot { name } deployment { id requester ticket }
        attributes { name value } steps { step outcome taskMoref at } } }`,
    {},
    'deployments:read',
  )
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const c = res.body.data!.clone
  t.match(c, {
    name: 'Capture02',
    number: 2,
    status: 'READY',
    moref: /^vm-/,
    parent: { name: 'Tmpl Capture 1.0' },
    snapshot: { name: 'Base' },
    deployment: { id: capture.id, requester: 'portal-user', ticket: 'RITM0012345' },
  })
  const attributes = Object.fromEntries(c.attributes.map((a: any) => [a.name, a.value]))
  t.equal(attributes.Template, 'Tmpl Capture 1.0')
  t.equal(attributes.Project, `Training 2010 <&>'" Ünïcødé`)
  t.equal(attributes['Logon Administrator Password'], '***')
  t.same(c.steps.map((s: any) => [s.step, s.outcome]), [
    ['CLONING', 'SUCCEEDED'],
    ['CUSTOMIZING', 'SUCCEEDED'],
    ['POWERING_ON', 'SUCCEEDED'],
    ['GUEST_CUSTOMIZING', 'SUCCEEDED'],
    ['SETTING_ATTRIBUTES', 'SUCCEEDED'],
  ])
  t.ok(c.steps.slice(0, 3).every((s: any) => /^task-/.test(s.taskMoref)), 'each vCenter step with its task')

  const missing = await gql(service, `{ clone(name: "Nobody01") { name } }`, {}, 'deployments:read')
  t.same(missing.body.data, { clone: null })
  t.match(missing.body.errors, [{ extensions: { code: 'CLONE_NOT_FOUND', details: { name: 'Nobody01' } } }])
})

t.test('clones: filters by prefix, parent, status and attribute; cursor pages', async (t) => {
  const names = async (filter: string, scope = 'deployments:read') => {
    const res = await gql(service, `{ clones(filter: ${filter}) { totalCount nodes { name } } }`, {}, scope)
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    const list = res.body.data!.clones.nodes.map((c: any) => c.name)
    t.equal(res.body.data!.clones.totalCount, list.length)
    return list
  }
  t.same(await names('{ prefix: "Capture" }'), ['Capture01', 'Capture02', 'Capture03'])
  t.same(await names('{ parent: "Tmpl Packaging 1.0" }'), ['Packaging01', 'Packaging02'])
  t.same(await names('{ parent: "Tmpl Packaging 1.0", status: FAILED }'), [])
  t.same(await names('{ status: READY, prefix: "Pack" }'), ['Packaging01', 'Packaging02'])
  t.same(await names('{ attribute: { name: "Role", value: "Packaging" } }'), ['Packaging01', 'Packaging02'])
  t.same(await names('{ attribute: { name: "Template", value: "Tmpl Capture 1.0" }, prefix: "Capture0" }'), ['Capture01', 'Capture02', 'Capture03'])
  t.same(await names('{ prefix: "%" }'), [], 'LIKE wildcards are matched literally')

  // Secrets are sealed at rest: nobody can search them (REST refuses the same way).
  for (const scope of ['deployments:read', 'deployments:read secrets:read']) {
    const probe = await gql(service, `{ clones(filter: { attribute: { name: "Logon User Password", value: "guess" } }) { totalCount } }`, {}, scope)
    t.same(codes(probe), ['VALIDATION_FAILED'], scope)
    t.match(probe.body.errors![0], { message: /secret attribute/, extensions: { details: { field: 'attribute', name: 'Logon User Password' } } })
  }
  const rest = await service.app.inject({
    method: 'GET',
    url: `/v1/clones?attribute=${encodeURIComponent('Logon User Password:guess')}`,
    headers: auth('deployments:read'),
  })
  t.equal(rest.json().code, 'VALIDATION_FAILED', 'as REST')

  const pages: string[] = []
  let after: string | null = null
  do {
    const res: any = await gql(
      service,
      `query($after: String) { clones(first: 2, after: $after, filter: { prefix: "Capture" }) { nodes { name } pageInfo { hasNextPage endCursor } } }`,
      { after },
      'deployments:read',
    )
    pages.push(...res.body.data.clones.nodes.map((c: any) => c.name))
    after = res.body.data.clones.pageInfo.hasNextPage ? res.body.data.clones.pageInfo.endCursor : null
  } while (after)
  t.same(pages, ['Capture01', 'Capture02', 'Capture03'])
})

t.test('Password attributes: *** without secrets:read, the value with it (or admin), each reveal recorded', async (t) => {
  const reveals = async (actor: string) =>
    (
      await service.app.database.pool.query(
        `SELECT h.name FROM attribute_history h JOIN clones c ON c.id = h.clone_id WHERE h.event = 'reveal' AND h.actor = $1 ORDER BY h.name, c.name`,
        [actor],
      )
    ).rows.map((r) => r.name)
  const values = async (query: string, scope: string, sub: string) => {
    const res = await gql(service, query, {}, scope, sub)
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    const clones = res.body.data!.clone ? [res.body.data!.clone] : res.body.data!.clones.nodes
    return clones.flatMap((c: any) => c.attributes)
  }
  const one = `{ clone(name: "Capture01") { attributes { name value secret } } }`
  const redacted = await values(one, 'deployments:read', 'reader')
  t.match(redacted.find((a: any) => a.name === 'Logon Administrator Password'), { value: '***', secret: true })
  t.match(redacted.find((a: any) => a.name === 'Logon User Password'), { value: '***', secret: true })
  t.match(redacted.find((a: any) => a.name === 'Logon User Name'), { value: 'trainee', secret: false }, 'other attributes as they are')
  t.same(await reveals('reader'), [], 'nothing revealed, nothing recorded')

  for (const [scope, sub] of [['deployments:read secrets:read', 'auditor'], ['admin', 'root']] as const) {
    const revealed = await values(one, scope, sub)
    t.equal(revealed.find((a: any) => a.name === 'Logon Administrator Password').value, 'S3cret<&>', scope)
    t.same(await reveals(sub), ['Logon Administrator Password', 'Logon User Password'], `${sub}'s reveal recorded`)
  }

  const list = `{ clones(filter: { prefix: "Pack" }) { nodes { attributes { name value } } } }`
  const listed = (await values(list, 'deployments:read', 'reader')).filter((a: any) => /Password/.test(a.name))
  t.ok(listed.length === 4 && listed.every((a: any) => a.value === '***'), 'in lists too')
  const openList = (await values(list, 'deployments:read secrets:read', 'lister')).filter((a: any) => /Password/.test(a.name))
  t.ok(openList.length === 4 && openList.every((a: any) => a.value !== '***'), 'opened in lists with secrets:read')
  t.equal((await reveals('lister')).length, 4, 'one reveal recorded per secret shown')
})

t.test('parents: what vCenter offers, checked as a deployment would be, with their clones', async (t) => {
  const res = await gql(
    service,
    `{ parents { nodes { name moref ready customizationSpec customizationSpecExists hasNonPersistentDisk
        snapshot { name } problems { code } warnings { code } clones { nodes { name } } } } }`,
    {},
    'deployments:read',
  )
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const byName = Object.fromEntries(res.body.data!.parents.nodes.map((p: any) => [p.name, p]))
  t.same(Object.keys(byName), [
    'Tmpl Capture 1.0',
    'Tmpl Kiosk 1.0',
    'Tmpl NoSnap 1.0',
    'Tmpl NoSpec 1.0',
    'Tmpl Packaging 1.0',
    'Tmpl Verification 1.0',
  ], 'the templates; neither the clones (they carry Template) nor Capture99 (no spec named)')
  t.match(byName['Tmpl Capture 1.0'], { ready: true, customizationSpec: 'Capture', customizationSpecExists: true, snapshot: { name: 'Base' }, problems: [], warnings: [] })
  t.same(byName['Tmpl Capture 1.0'].clones.nodes.map((c: any) => c.name), ['Capture01', 'Capture02', 'Capture03'])
  t.match(byName['Tmpl NoSnap 1.0'], { ready: false, snapshot: null, problems: [{ code: 'SNAPSHOT_MISSING' }] })
  t.match(byName['Tmpl NoSpec 1.0'], { ready: false, customizationSpec: 'Missing Spec', customizationSpecExists: false, problems: [{ code: 'CUSTOMIZATION_SPEC_NOT_FOUND' }] })
  t.match(byName['Tmpl Kiosk 1.0'], { ready: true, hasNonPersistentDisk: true, warnings: [{ code: 'PARENT_HAS_NONPERSISTENT_DISK' }] })
})

t.test('a query asked again runs compiled (graphql-jit) and answers the same', async (t) => {
  const everything = /* GraphQL */ `
    query Everything($id: ID!) {
      deployment(id: $id) {
        id status prefix count startNumber requester ticket customizationAttribute customizationSpec copiedAttributes
        parent { name moref } snapshot { name moref createdAt } warnings { code message } error { code message faultType }
        createdAt startedAt finishedAt durationSeconds
        progress { total done failed byStatus { pending cloning customizing poweringOn settingAttributes ready failed } }
        clones { id name number status moref instanceUuid host reportedHost error { code } createdAt readyAt vanishedAt
          parent { name } snapshot { name } deployment { id } attributes { name value secret }
          steps { step outcome taskMoref detail error { code } at } }
      }
      deployments(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } nodes { id } }
      clones(first: 2, filter: { prefix: "Capture" }) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } } }
      parents { nodes { name moref ready customizationSpec customizationSpecExists hasNonPersistentDisk
        snapshot { name moref } problems { code message } warnings { code message } } nextCursor }
    }
  `
  // A probe on the deployment field's resolver: which executor called it. graphql-js hands resolvers a
  // path that names its parent type (path.typename); graphql-jit's compiled code builds the path
  // without it. The probe only looks, then calls the resolver the service defined.
  const field = service.app.graphql.schema.getQueryType()!.getFields().deployment!
  const resolve = field.resolve!
  const executors: string[] = []
  field.resolve = (source, args, context, info) => {
    executors.push('typename' in info.path ? 'graphql-js' : 'graphql-jit')
    return resolve(source, args, context, info)
  }
  t.teardown(() => {
    field.resolve = resolve
  })

  const first = await gql(service, everything, { id: capture.id }, 'deployments:read')
  t.equal(first.statusCode, 200, JSON.stringify(first.body.errors))
  for (let i = 0; i < 2; i++) {
    const again = await gql(service, everything, { id: capture.id }, 'deployments:read')
    t.same(again.body, first.body, `run ${i + 2}`)
  }
  t.equal(first.body.data!.clones.totalCount, 3)
  t.same(executors, ['graphql-js', 'graphql-jit', 'graphql-jit'], 'the first run interpreted, the next ones compiled (jit: 1)')
})

t.test('no data without a valid token; each root field needs its scope', async (t) => {
  const query = `{ clones { totalCount } }`
  const anonymous = await gql(service, query, {}, null)
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.body.data, null)
  t.same(codes(anonymous), ['UNAUTHORIZED'])

  for (const [what, authorization] of invalidAuthorizations(service)) {
    const res = await service.app.inject({ method: 'POST', url: '/graphql', headers: { authorization }, payload: { query } })
    t.equal(res.statusCode, 401, what)
    t.same(res.json().errors.map((e: any) => e.extensions.code), ['UNAUTHORIZED'], what)
  }
  const get = await service.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(query)}` })
  t.equal(get.statusCode, 401, 'GET too')

  // Not even the schema's shape answers without a token.
  const invalid = await gql(service, `{ nothingHere }`, {}, null)
  t.same(codes(invalid), ['UNAUTHORIZED'])

  const roots = ['deployment(id: "x") { id }', 'deployments { totalCount }', 'clone(name: "x") { name }', 'clones { totalCount }', 'parents { nodes { name } }']
  for (const field of roots) {
    const res = await gql(service, `{ ${field} }`, {}, 'secrets:read')
    t.same(codes(res), ['FORBIDDEN'], field)
    t.equal(res.body.errors![0]!.extensions!.details.required, 'deployments:read')
  }
  const viaGet = await service.app.inject({
    method: 'GET',
    url: `/graphql?query=${encodeURIComponent('mutation { deployLinkedClones(input: { parent: "x", count: 1, startNumber: 1 }) { __typename } }')}`,
    headers: auth('deployments:write'),
  })
  t.equal(viaGet.statusCode, 405)
  t.same(viaGet.json().errors.map((e: any) => e.extensions.code), ['METHOD_NOT_ALLOWED'])
})
