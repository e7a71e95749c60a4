/**
 * setCloneAttributes and attribute history over GraphQL, against the simulator and a real PostgreSQL,
 * held to what PATCH /v1/clones/{name}/attributes and GET /v1/clones/{name}/history do: vCenter and
 * the records change together or neither does, the same refusals with the same codes, secrets *** without
 * secrets:read and every reveal recorded, and a history listed for many clones in a fixed number of queries.
 */
import t from 'tap'
import { AttributeService } from '../../../src/modules/clones/attribute-service.js'
import { buildApp } from '../../../src/app.js'
import { loadConfig } from '../../../src/config/config.js'
import { freePort } from '../../../src/db/embedded.js'
import { generateKey } from '../../../src/domain/secrets.js'
import { VcenterUnreachable, type VcenterGateway } from '../../../src/vcenter/gateway.js'
import { VimClient, decodeCustomFieldValues } from '../../../src/vim25/index.js'
import { appWithLogs, connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'
import { codes, gql, queryCounter } from '../../helpers/graphql.js'

const PROJECT = `Training 2010 <&>'" Ünïcødé`
const SECRETS_KEY = generateKey()
const READ = 'deployments:read'
const WRITE = 'deployments:read deployments:write secrets:write'
// Every caller here is in one team (teams.test.ts tests teams); writing secrets needs secrets:write.
const LAB = ['lab']
const labGql = (...args: Parameters<typeof gql>) => gql(args[0], args[1], args[2] ?? {}, args[3] === undefined ? 'deployments:read deployments:write' : args[3], args[4] ?? 'portal-user', LAB)
const SECRETS = 'deployments:read secrets:read'

let service: TestService
let vc: VimClient
let deploymentId: string
let countQueries: ReturnType<typeof queryCounter>

t.before(async () => {
  service = await startTestService({ env: { SECRETS_KEY } })
  countQueries = queryCounter(service)
  vc = await connectToSimulator(service.sim)
  const res = await gql(
    service,
    `mutation($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { ... on Deployment { id } } }`,
    { input: { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1 } },
    'deployments:write',
    'portal-user',
    LAB,
  )
  deploymentId = res.body.data!.deployLinkedClones.id
  const done = await waitForDeployment(service, deploymentId)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

const SET = /* GraphQL */ `
  mutation Set($clone: String!, $attributes: [AttributeInput!]!) {
    setCloneAttributes(clone: $clone, attributes: $attributes) {
      changed
      clone { name attributes { name value secret } }
    }
  }
`
const set = (clone: string, attributes: Record<string, string> | { name: string; value: string }[], scope = WRITE, sub = 'ticket-bot') =>
  labGql(service, SET, { clone, attributes: Array.isArray(attributes) ? attributes : Object.entries(attributes).map(([name, value]) => ({ name, value })) }, scope, sub)

const HISTORY = /* GraphQL */ `
  query History($name: String!, $first: Int, $after: String) {
    cloneHistory(name: $name, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { at event source actor deployment { id } name secret oldValue newValue }
    }
  }
`
async function gqlHistory(name: string, scope = READ, sub = 'portal-user', first = 1000) {
  const res = await labGql(service, HISTORY, { name, first }, scope, sub)
  if (res.statusCode !== 200) throw new Error(JSON.stringify(res.body))
  return res.body.data!.cloneHistory.nodes as any[]
}

async function restHistory(name: string, scope = READ, sub = 'portal-user') {
  const res = await service.app.inject({ method: 'GET', url: `/v1/clones/${name}/history`, headers: service.auth(scope, sub, LAB) })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json().entries as any[]
}

/** A REST history entry as GraphQL spells it. */
const asGraphql = (e: any) => ({
  at: e.at,
  event: e.event.toUpperCase(),
  source: e.source.toUpperCase(),
  actor: e.actor,
  deployment: e.deploymentId ? { id: e.deploymentId } : null,
  name: e.name,
  secret: e.secret,
  oldValue: e.oldValue,
  newValue: e.newValue,
})

/** The clone's custom values in vCenter, by name. */
async function vcenterValues(name: string): Promise<Map<string, string>> {
  const fields = new Map((await vc.customFieldDefs()).map((d) => [d.key, d.name]))
  const [vm] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'customValue'])).filter(
    (o) => o.props.name === name,
  )
  return new Map(decodeCustomFieldValues(vm?.props.customValue).map((v) => [fields.get(v.key)!, v.value]))
}

const sql = (text: string, values: unknown[] = []) => service.app.database.pool.query(text, values)
const historyRows = async () => (await sql('SELECT count(*)::int AS n FROM attribute_history')).rows[0].n as number
const revealsBy = async (actor: string) =>
  (await sql(`SELECT name FROM attribute_history WHERE event = 'reveal' AND actor = $1 ORDER BY name`, [actor])).rows.map((r) => r.name)

t.test('setCloneAttributes writes vCenter and the records, with history by the token’s sub', async (t) => {
  await service.sim.resetStats()
  const res = await set('Capture01', { Role: 'Trainer', Room: 'B:12', 'Logon User Password': 'N3w<pass>' })
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const { changed, clone } = res.body.data!.setCloneAttributes
  t.same(changed, ['Role', 'Room', 'Logon User Password'])
  const attrs = new Map(clone.attributes.map((a: any) => [a.name, a]))
  t.match(attrs.get('Role'), { value: 'Trainer', secret: false })
  t.match(attrs.get('Room'), { value: 'B:12' })
  t.match(attrs.get('Logon User Password'), { value: '***', secret: true }, 'a secret reads *** without secrets:read')

  const inVcenter = await vcenterValues('Capture01')
  t.equal(inVcenter.get('Role'), 'Trainer')
  t.equal(inVcenter.get('Room'), 'B:12', 'a field vCenter did not define is created')
  t.equal(inVcenter.get('Logon User Password'), 'N3w<pass>')
  const stats = await service.sim.stats()
  t.equal(stats.methods.SetField?.count, 3)
  t.equal(stats.methods.AddCustomFieldDef?.count, 1)

  const ticketBot = (await gqlHistory('Capture01', SECRETS, 'auditor')).filter((e) => e.actor === 'ticket-bot')
  t.same(
    ticketBot.map((e) => [e.event, e.source, e.name, e.oldValue, e.newValue]),
    // Newest first: the change's entries in reverse order of writing.
    [
      ['SET', 'USER', 'Logon User Password', 'Tr4inee!', 'N3w<pass>'],
      ['SET', 'USER', 'Room', null, 'B:12'],
      ['SET', 'USER', 'Role', 'Capture', 'Trainer'],
    ],
  )

  const again = await set('Capture01', { Role: 'Trainer' })
  t.same(again.body.data!.setCloneAttributes.changed, [], 'the same value again changes nothing')
  t.equal((await gqlHistory('Capture01')).filter((e) => e.actor === 'ticket-bot').length, 3)
})

t.test('with secrets:read the answer shows the secret, and that reveal is recorded as REST records it', async (t) => {
  const res = await set('Capture02', { 'Logon Administrator Password': 'Adm1n!' }, `${WRITE} secrets:read`, 'lab-admin')
  t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
  const shown = res.body.data!.setCloneAttributes.clone.attributes.find((a: any) => a.name === 'Logon Administrator Password')
  t.equal(shown.value, 'Adm1n!')
  t.same(await revealsBy('lab-admin'), ['Logon Administrator Password', 'Logon User Password'], "the clone's secrets shown, each recorded")
})

t.test('refusals: the codes of PATCH /v1/clones/{name}/attributes, and nothing written anywhere', async (t) => {
  await service.sim.resetStats()
  const before = await historyRows()
  const cases: [string, string, unknown, string, number, RegExp][] = [
    ['unknown clone', 'Nope01', [{ name: 'Role', value: 'x' }], 'CLONE_NOT_FOUND', 404, /Nope01/],
    ['no attributes', 'Capture02', [], 'VALIDATION_FAILED', 400, /at least one/],
    ['a control character', 'Capture02', [{ name: 'Role', value: 'a\u0001b' }], 'VALIDATION_FAILED', 400, /value of "Role" contains a control character/],
    ['an empty name', 'Capture02', [{ name: ' ', value: 'x' }], 'VALIDATION_FAILED', 400, /name is empty/],
    ['a long name', 'Capture02', [{ name: 'N'.repeat(300), value: 'x' }], 'VALIDATION_FAILED', 400, /longer than 255/],
    ['a long value', 'Capture02', [{ name: 'Role', value: 'v'.repeat(4097) }], 'VALIDATION_FAILED', 400, /longer than 4096/],
    ['a name twice', 'Capture02', [{ name: 'Role', value: 'a' }, { name: 'Role', value: 'b' }], 'VALIDATION_FAILED', 400, /"Role" is given twice/],
    ['101 attributes', 'Capture02', Array.from({ length: 101 }, (_, i) => ({ name: `A${i}`, value: 'x' })), 'VALIDATION_FAILED', 400, /at most 100/],
    ['an empty clone name', '', [{ name: 'Role', value: 'x' }], 'VALIDATION_FAILED', 400, /"clone"/],
  ]
  for (const [what, clone, attributes, code, status, message] of cases) {
    const res = await labGql(service, SET, { clone, attributes }, WRITE, 'ticket-bot')
    t.same(codes(res), [code], what)
    t.equal(res.statusCode, status, `${what}: HTTP ${status}`)
    t.match(res.body.errors![0]!.message, message, what)
    t.equal(res.body.data, null, what)
  }
  // REST answers the same for the same mistakes.
  const rest = await service.app.inject({
    method: 'PATCH',
    url: '/v1/clones/Capture02/attributes',
    headers: service.auth(WRITE, 'ticket-bot', LAB),
    payload: { attributes: { Role: 'a\u0001b' } },
  })
  t.equal(rest.json().code, 'VALIDATION_FAILED')
  const secret = await set('Capture02', { 'Logon User Password': 'x\u0002' })
  // Neither the value nor its JSON escape: JSON.stringify alone would hide the raw character.
  const echoed = JSON.stringify(secret.body)
  t.notOk(echoed.includes('x\u0002') || echoed.includes('x\\u0002'), 'a value is never echoed')

  const readOnly = await set('Capture02', { Role: 'x' }, READ)
  t.same(codes(readOnly), ['FORBIDDEN'])
  t.equal(readOnly.statusCode, 403)
  t.same(readOnly.body.errors![0]!.extensions!.details, { required: 'deployments:write' })
  const anonymous = await labGql(service, SET, { clone: 'Capture02', attributes: [{ name: 'Role', value: 'x' }] }, null)
  t.equal(anonymous.statusCode, 401)

  t.notOk((await service.sim.stats()).methods.SetField, 'nothing written to vCenter')
  t.equal(await historyRows(), before, 'nothing recorded')
})

t.test('a clone still being made is refused as REST refuses it (CLONE_NOT_READY), nothing written', async (t) => {
  await sql(`UPDATE clones SET status = 'customizing' WHERE name = 'Capture03'`)
  t.teardown(() => sql(`UPDATE clones SET status = 'ready' WHERE name = 'Capture03'`))
  await service.sim.resetStats()
  const notReady = await set('Capture03', { Role: 'x' })
  t.same(codes(notReady), ['CLONE_NOT_READY'])
  t.equal(notReady.statusCode, 409)
  t.notOk((await service.sim.stats()).methods.SetField, 'nothing written to vCenter')
})

t.test('vCenter and PostgreSQL change together, or neither does', async (t) => {
  const labAdminSets = async () => (await gqlHistory('Capture03')).filter((e) => e.actor === 'lab-admin' && e.event === 'SET')

  await t.test('vCenter fails part-way: what was written is restored, nothing recorded', async (t) => {
    const real = service.app.vcenter
    let failures = 1
    // The real gateway, except that one write reaches vCenter for its first value and then fails.
    const faulty = new Proxy(real, {
      get(target, prop) {
        if (prop === 'setAttributes') {
          return async (moref: string, values: { name: string; value: string }[], current?: Map<string, string>) => {
            if (failures-- > 0) {
              await real.setAttributes(moref, values.slice(0, 1))
              throw new VcenterUnreachable('connection reset by peer (injected)')
            }
            return real.setAttributes(moref, values, current)
          }
        }
        const value = Reflect.get(target, prop)
        return typeof value === 'function' ? value.bind(target) : value
      },
    }) as VcenterGateway
    // The service the resolver calls, on the faulty gateway, for this subtest only.
    const original = service.app.assets.attributes
    service.app.assets.attributes = new AttributeService(service.app.assets.store, service.app.repositories.clones, faulty, service.app.log)
    t.teardown(() => {
      service.app.assets.attributes = original
    })
    const res = await set('Capture03', { Role: 'Half', Project: 'Written?' }, WRITE, 'lab-admin')
    t.same(codes(res), ['VCENTER_UNAVAILABLE'])
    t.equal(res.statusCode, 503)
    t.equal(failures, -1, 'the injected failure happened, and the restore went through the real gateway')
    const values = await vcenterValues('Capture03')
    t.equal(values.get('Role'), 'Capture', 'the value written before the failure was restored')
    t.equal(values.get('Project'), PROJECT)
    t.same(await labAdminSets(), [], 'nothing recorded')
    const clone = await labGql(service, `{ clone(name: "Capture03") { attributes { name value } } }`, {}, READ)
    t.equal(clone.body.data!.clone.attributes.find((a: any) => a.name === 'Role').value, 'Capture')
  })

  await t.test('PostgreSQL fails after vCenter was written: vCenter is restored', async (t) => {
    await sql(`CREATE FUNCTION test_refuse_history() RETURNS trigger AS $$
      BEGIN IF NEW.new_value = 'refused by the database' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`)
    await sql(`CREATE TRIGGER test_refuse_history BEFORE INSERT ON attribute_history FOR EACH ROW EXECUTE FUNCTION test_refuse_history()`)
    t.teardown(() => sql('DROP TRIGGER test_refuse_history ON attribute_history; DROP FUNCTION test_refuse_history()'))
    await service.sim.resetStats()
    const res = await set('Capture03', { Role: 'refused by the database' }, WRITE, 'lab-admin')
    t.same(codes(res), ['INTERNAL_ERROR'])
    t.notMatch(res.body.errors![0]!.message, /injected/, "the database's message is not for clients")
    t.equal((await service.sim.stats()).methods.SetField?.count, 2, 'written, then written back')
    t.equal((await vcenterValues('Capture03')).get('Role'), 'Capture')
    t.same(await labAdminSets(), [])
  })

  await t.test('vCenter unreachable: VCENTER_UNAVAILABLE, nothing changed', async (t) => {
    const config = loadConfig({
      VCENTER_URL: `https://127.0.0.1:${await freePort()}/sdk`,
      VCENTER_USERNAME: 'x',
      VCENTER_PASSWORD: 'y',
      VCENTER_INSECURE: 'true',
      JWT_SECRET: service.secret,
      SECRETS_KEY,
      LOG_LEVEL: 'silent',
    })
    const app = await buildApp({ config, databaseUrl: service.db.url, runWorkers: false })
    t.teardown(() => app.close())
    const res = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: service.auth(WRITE, 'lab-admin', LAB),
      payload: { query: SET, variables: { clone: 'Capture03', attributes: [{ name: 'Role', value: 'x' }] } },
    })
    t.equal(res.statusCode, 503)
    t.same(res.json().errors.map((e: any) => e.extensions.code), ['VCENTER_UNAVAILABLE'])
    t.same(await labAdminSets(), [])
  })
})

t.test('cloneHistory is GET /v1/clones/{name}/history: the same entries, redacted the same way', async (t) => {
  const rest = await restHistory('Capture01')
  const graphql = await gqlHistory('Capture01')
  t.ok(rest.length >= 14, `${rest.length} entries`)
  t.same(graphql, rest.map(asGraphql), 'entry for entry, newest first')
  const copied = graphql.filter((e) => e.source === 'DEPLOYMENT')
  t.equal(copied.length, 11, "the seed's ten and Template, copied by the deployment")
  t.ok(copied.every((e) => e.actor === deploymentId && e.deployment.id === deploymentId && e.oldValue === null))
  const secrets = graphql.filter((e) => e.secret && e.event === 'SET')
  t.ok(secrets.length >= 3 && secrets.every((e) => e.newValue === '***' && (e.oldValue === null || e.oldValue === '***')), 'secrets *** without secrets:read')
  t.same(await revealsBy('portal-user'), [], 'reading without secrets:read reveals nothing')

  // As clone(name): null with the error, beside whatever else the query asked.
  const missing = await labGql(service, HISTORY, { name: 'Nobody01' }, READ)
  t.same(missing.body.data, { cloneHistory: null })
  t.match(missing.body.errors, [{ path: ['cloneHistory'], extensions: { code: 'CLONE_NOT_FOUND', details: { name: 'Nobody01' } } }])
})

t.test('history with secrets:read: the values, and the reveal recorded as REST records it', async (t) => {
  const viaRest = await restHistory('Capture01', SECRETS, 'rest-auditor')
  const viaGraphql = await gqlHistory('Capture01', SECRETS, 'graphql-auditor')
  const set = (entries: any[]) => entries.filter((e) => e.event === 'set' || e.event === 'SET')
  t.same(set(viaGraphql), set(viaRest).map(asGraphql), 'the same values')
  t.ok(set(viaGraphql).some((e) => e.name === 'Logon User Password' && e.newValue === 'N3w<pass>'))
  t.same(await revealsBy('graphql-auditor'), await revealsBy('rest-auditor'), 'the same reveals recorded')
  t.same(await revealsBy('graphql-auditor'), ['Logon Administrator Password', 'Logon User Password'])
})

t.test('Clone.history pages with cursors; only the entries shown are recorded as revealed', async (t) => {
  const all = await gqlHistory('Capture01')
  const paged: any[] = []
  let after: string | null = null
  let pages = 0
  do {
    const res: any = await labGql(
      service,
      `query($after: String) { clone(name: "Capture01") { history(first: 4, after: $after) {
         totalCount pageInfo { hasNextPage endCursor } edges { cursor node { at name actor newValue } } } } }`,
      { after },
      READ,
    )
    t.equal(res.statusCode, 200, JSON.stringify(res.body.errors))
    const { edges, pageInfo, totalCount } = res.body.data.clone.history
    t.equal(totalCount, all.length)
    t.equal(pageInfo.endCursor, edges.at(-1)?.cursor ?? null)
    paged.push(...edges.map((e: any) => e.node))
    after = pageInfo.hasNextPage ? pageInfo.endCursor : null
    pages++
  } while (after)
  t.equal(pages, Math.ceil(all.length / 4))
  t.same(paged, all.map((e) => ({ at: e.at, name: e.name, actor: e.actor, newValue: e.newValue })), 'pages of 4 give every entry once, in order')

  // A page that ends just before the first entry of the other secret: that entry is the extra row read
  // to see whether a next page exists, not shown, so not recorded; the secret the page shows is.
  // (Secrets with values: newest first, the reveal entries, which show none, come before them.)
  const withValue = (e: any) => e.secret && e.name !== null && e.event === 'SET'
  const firstSecret = all.findIndex(withValue)
  const otherSecret = all.findIndex((e, i) => i > firstSecret && withValue(e) && e.name !== all[firstSecret].name)
  t.ok(firstSecret >= 0 && otherSecret > firstSecret, 'two secrets in the history, one after the other')
  const page = await labGql(service, HISTORY, { name: 'Capture01', first: otherSecret }, SECRETS, 'pager')
  t.equal(page.statusCode, 200, JSON.stringify(page.body.errors))
  const shown = page.body.data!.cloneHistory.nodes
  t.equal(shown.length, otherSecret)
  t.ok(page.body.data!.cloneHistory.pageInfo.hasNextPage)
  t.not(shown[firstSecret].newValue, '***', 'shown with secrets:read')
  t.same(await revealsBy('pager'), [all[firstSecret].name], 'only the secret shown is recorded')

  for (const [after, what] of [['bogus', 'not a cursor'], [Buffer.from(JSON.stringify(['-1'])).toString('base64url'), 'a negative seq']] as [string, string][]) {
    const bad = await labGql(service, `query($after: String) { cloneHistory(name: "Capture01", after: $after) { totalCount } }`, { after }, READ)
    t.same(codes(bad), ['VALIDATION_FAILED'], what)
  }
  t.same(codes(await labGql(service, `{ cloneHistory(name: "Capture01", first: 0) { totalCount } }`, {}, READ)), ['VALIDATION_FAILED'])
  t.same(codes(await labGql(service, `{ cloneHistory(name: "Capture01") { totalCount } }`, {}, 'secrets:read')), ['FORBIDDEN'])
})

t.test('history of many clones: one query for the entries and one for their counts, not one per clone', async (t) => {
  const query = `{ clones(first: 100, filter: { prefix: "Capture" }) { nodes { name history(first: 20) { totalCount nodes { name newValue deployment { id } } } } } }`
  const { result, queries } = await countQueries(() => labGql(service, query, {}, READ))
  t.equal(result.statusCode, 200, JSON.stringify(result.body.errors))
  const nodes = result.body.data!.clones.nodes
  t.equal(nodes.length, 3)
  t.ok(nodes.every((c: any) => c.history.nodes.length >= 11 && c.history.totalCount >= c.history.nodes.length))
  t.equal(queries.filter((q) => /from "attribute_history"/.test(q) && !/count\(\*\)/.test(q)).length, 1, 'one batch of entries', { queries })
  t.equal(queries.filter((q) => /from "attribute_history"/.test(q) && /count\(\*\)/.test(q)).length, 1, 'one batch of counts')
  t.equal(queries.filter((q) => /from "deployments"/.test(q)).length, 1, 'one batch of deployments')
  t.equal(queries.length, 4, 'the page, the entries, their counts, the deployments')

  const revealing = await countQueries(() => labGql(service, query, {}, SECRETS, 'bulk-auditor'))
  t.equal(revealing.result.statusCode, 200, JSON.stringify(revealing.result.body.errors))
  t.equal(revealing.queries.filter((q) => /insert into "attribute_history"/.test(q)).length, 1, 'the reveals of every clone in one insert')
  t.equal((await revealsBy('bulk-auditor')).length, 3 * 2, "each clone's two secrets")
})

t.test('secret values never reach the logs, even at trace level', async (t) => {
  const { app, lines } = await appWithLogs(service, t, { env: { SECRETS_KEY } })
  const headers = service.auth(`${WRITE} secrets:read`, 'secrets-admin', LAB)
  const post = (query: string, variables: object) => app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })
  const ok = await post(SET, { clone: 'Capture02', attributes: [{ name: 'Logon User Password', value: 'N3ver-Logged!' }] })
  t.equal(ok.statusCode, 200, ok.body)
  const bad = await post(SET, { clone: 'Capture02', attributes: [{ name: 'Logon User Password', value: 'N3ver-Logged!\u0001' }] })
  t.equal(bad.statusCode, 400)
  const inline = await post(`mutation { setCloneAttributes(clone: "Capture02", attributes: [{ name: "Logon User Password", value: "N3ver-Logged!" }]) { changed } }`, {})
  t.equal(inline.statusCode, 200, inline.body)
  const history = await post(HISTORY, { name: 'Capture02' })
  t.match(history.body, /N3ver-Logged!/, 'the history shows it to secrets:read')
  t.ok(lines.length > 5, `${lines.length} log lines`)
  t.notOk(lines.some((l) => l.includes('N3ver-Logged')), 'the value is in no log line')
  t.ok(lines.some((l) => l.includes('"changed":["Logon User Password"]')), 'what changed is logged, by name')
})
