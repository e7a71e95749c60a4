/**
 * Asset records through the HTTP API, against the simulator and a real PostgreSQL: the clones'
 * attributes and their history (deployment, user, vCenter sync), setting them in vCenter and the
 * records together or not at all, queries by attribute, secrets sealed at rest and every reveal
 * recorded, and provenance that outlives the VM.
 */
import t from 'tap'
import { AttributeService } from '../../../src/modules/clones/attribute-service.js'
import { AttributeStore } from '../../../src/db/repositories/attributes.js'
import { buildApp } from '../../../src/app.js'
import { loadConfig } from '../../../src/config/config.js'
import { freePort } from '../../../src/db/embedded.js'
import { Keyring, generateKey } from '../../../src/domain/secrets.js'
import { VcenterUnreachable, type VcenterGateway } from '../../../src/vcenter/gateway.js'
import { VimClient, decodeCustomFieldValues, type MoRef } from '../../../src/vim25/index.js'
import { appWithLogs, connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PROJECT = `Training 2010 <&>'" Ünïcødé`
const SECRETS_KEY = generateKey()

let service: TestService
let vc: VimClient
let deploymentId: string

t.before(async () => {
  service = await startTestService({ env: { SECRETS_KEY } })
  vc = await connectToSimulator(service.sim)
  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write', 'portal-user', LAB),
    payload: { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1, ticket: 'RITM0012345' },
  })
  if (post.statusCode !== 202) throw new Error(post.body)
  deploymentId = post.json().id
  const done = await waitForDeployment(service, deploymentId)
  if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

function api(method: 'GET' | 'PATCH', url: string, scope: string, sub = 'portal-user', payload?: object) {
  return service.app.inject({ method, url, headers: service.auth(scope, sub, LAB), payload })
}
const READ = 'deployments:read'
const WRITE = 'deployments:read deployments:write secrets:write'
// Every caller here is in one team (teams.test.ts tests teams); writing secrets needs secrets:write.
const LAB = ['lab']
const SECRETS = 'deployments:read secrets:read'

async function history(name: string, scope = READ, sub = 'portal-user') {
  const res = await api('GET', `/v1/clones/${name}/history`, scope, sub)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json().entries as any[]
}

/** The clone's custom values in vCenter, by name (the simulator appends: the last value wins). */
async function vcenterValues(name: string): Promise<Map<string, string>> {
  const fields = new Map((await vc.customFieldDefs()).map((d) => [d.key, d.name]))
  const [vm] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'customValue'])).filter(
    (o) => o.props.name === name,
  )
  return new Map(decodeCustomFieldValues(vm?.props.customValue).map((v) => [fields.get(v.key)!, v.value]))
}

async function vmRef(name: string): Promise<MoRef> {
  const vms = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  return vms.find((o) => o.props.name === name)!.obj
}

async function setInVcenter(name: string, values: Record<string, string>) {
  const keys = new Map((await vc.customFieldDefs()).map((d) => [d.name, d.key]))
  const ref = await vmRef(name)
  for (const [field, value] of Object.entries(values)) await vc.setField(ref, keys.get(field)!, value)
}

const sql = (text: string, values: unknown[] = []) => service.app.database.pool.query(text, values)

t.test("the provisioner's copy of the parent's attributes is history made by the deployment", async (t) => {
  const entries = await history('Capture01')
  t.equal(entries.length, 11, "the seed's ten and Template")
  for (const e of entries) {
    t.match(e, { event: 'set', source: 'deployment', actor: deploymentId, deploymentId, oldValue: null }, e.name)
  }
  const byName = new Map(entries.map((e) => [e.name, e]))
  t.equal(byName.get('Project').newValue, PROJECT)
  t.equal(byName.get('Template').newValue, 'Tmpl Capture 1.0')
  t.match(byName.get('Logon Administrator Password'), { secret: true, newValue: '***' }, 'secrets redacted without secrets:read')
  t.match(byName.get('Project'), { secret: false })
})

t.test('secrets are encrypted at rest: nothing in PostgreSQL holds them in plain text', async (t) => {
  const attrs = await sql(`SELECT a.* FROM clone_attributes a JOIN clones c ON c.id = a.clone_id WHERE c.name = 'Capture01' ORDER BY a.name`)
  const password = attrs.rows.find((r) => r.name === 'Logon Administrator Password')
  t.equal(password.value, null)
  t.match(password.sealed_value, /^[A-Za-z0-9_-]{40,}$/)
  t.match(password.key_id, /^[0-9a-f]{16}$/)
  t.equal(attrs.rows.find((r) => r.name === 'Project').value, PROJECT, 'other attributes stay searchable')
  for (const table of ['clone_attributes', 'attribute_history', 'deployments']) {
    const { rows } = await sql(`SELECT count(*)::int AS n FROM ${table} t WHERE t::text LIKE '%S3cret%' OR t::text LIKE '%Tr4inee%'`)
    t.equal(rows[0].n, 0, `no secret in plain text in ${table}`)
  }
  const deployment = await sql('SELECT attribute_values FROM deployments WHERE id = $1', [deploymentId])
  t.match(
    deployment.rows[0].attribute_values.find((v: any) => v.name === 'Logon User Password'),
    { sealed: /./, keyId: password.key_id },
    "the deployment's copy of the parent's values is sealed too",
  )

  // Bound to its row and name: a sealed value copied elsewhere does not open.
  const [capture02] = (await sql(`SELECT id FROM clones WHERE name = 'Capture02'`)).rows
  const store = service.app.assets.store
  const before = await sql(`SELECT sealed_value FROM clone_attributes WHERE clone_id = $1 AND name = 'Logon User Password'`, [capture02.id])
  await sql(`UPDATE clone_attributes SET sealed_value = $1 WHERE clone_id = $2 AND name = 'Logon User Password'`, [password.sealed_value, capture02.id])
  await t.rejects(store.current([capture02.id], { reveal: true }), /does not open/)
  await sql(`UPDATE clone_attributes SET sealed_value = $1 WHERE clone_id = $2 AND name = 'Logon User Password'`, [before.rows[0].sealed_value, capture02.id])
  t.equal((await store.current([capture02.id], { reveal: true })).get(capture02.id)!.find((a) => a.name === 'Logon User Password')!.value, 'Tr4inee!')
})

t.test('a clone shows its provenance: ticket, deployment, requester, parent, snapshot, VM', async (t) => {
  const clone = (await api('GET', '/v1/clones/Capture01', READ)).json()
  const [parent] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'config.instanceUuid', 'snapshot'])).filter(
    (o) => o.props.name === 'Tmpl Capture 1.0',
  )
  const snapshot = (parent!.props.snapshot as any).rootSnapshotList
  t.match(clone.provenance, {
    ticket: 'RITM0012345',
    deployment: { id: deploymentId, requester: 'portal-user', requestedAt: /^\d{4}-/ },
    parent: { name: 'Tmpl Capture 1.0', moref: parent!.obj.value, instanceUuid: parent!.props['config.instanceUuid'] },
    snapshot: { name: 'Base', moref: clone.snapshot.moref },
    vm: { name: 'Capture01', moref: clone.moref, instanceUuid: clone.instanceUuid, vanishedAt: null },
  })
  t.equal(new Date(clone.provenance.snapshot.createdAt).getTime(), new Date(snapshot.createTime).getTime(), "the snapshot's creation time")
  t.equal(clone.requester, 'portal-user', 'the earlier fields are still there')
})

t.test('every reveal of a secret is recorded', async (t) => {
  await api('GET', '/v1/clones/Capture03', READ, 'ticket-bot')
  const revealed = await api('GET', '/v1/clones/Capture03', SECRETS, 'auditor')
  const attrs = new Map(revealed.json().attributes.map((a: any) => [a.name, a.value]))
  t.equal(attrs.get('Logon Administrator Password'), 'S3cret<&>')
  const reveals = (await history('Capture03')).filter((e) => e.event === 'reveal')
  t.same(
    reveals.map((e) => [e.actor, e.name, e.source]),
    // Newest first: the reveals of one read in reverse order of writing.
    [
      ['auditor', 'Logon User Password', 'user'],
      ['auditor', 'Logon Administrator Password', 'user'],
    ],
    'by whom and which; the read without secrets:read revealed nothing',
  )

  const list = await api('GET', '/v1/clones?prefix=Capture', SECRETS, 'auditor')
  t.equal(list.json().clones.length, 3)
  const { rows } = await sql(`SELECT count(*)::int AS n FROM attribute_history WHERE event = 'reveal' AND actor = 'auditor'`)
  t.equal(rows[0].n, 2 + 3 * 2, 'a list reveals (and records) each clone\'s secrets')

  const before = (await history('Capture03')).filter((e) => e.event === 'reveal').length
  const full = await history('Capture03', SECRETS, 'auditor')
  t.equal(full.find((e) => e.name === 'Logon User Password' && e.event === 'set').newValue, 'Tr4inee!', 'history values with secrets:read')
  const after = (await history('Capture03')).filter((e) => e.event === 'reveal')
  t.equal(after.length, before + 2, 'reading the history with secrets:read is a reveal too')
})

t.test('PATCH sets attributes in vCenter and in the records, with history', async (t) => {
  await service.sim.resetStats()
  const res = await api('PATCH', '/v1/clones/Capture01/attributes', WRITE, 'ticket-bot', {
    attributes: { Role: 'Trainer', Room: 'B:12', 'Logon User Password': 'N3w<pass>' },
  })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().changed, ['Role', 'Room', 'Logon User Password'])
  const attrs = new Map(res.json().clone.attributes.map((a: any) => [a.name, a.value]))
  t.equal(attrs.get('Role'), 'Trainer')
  t.equal(attrs.get('Room'), 'B:12')
  t.equal(attrs.get('Logon User Password'), '***')

  const inVcenter = await vcenterValues('Capture01')
  t.equal(inVcenter.get('Role'), 'Trainer')
  t.equal(inVcenter.get('Room'), 'B:12', 'a field vCenter did not define is created')
  t.equal(inVcenter.get('Logon User Password'), 'N3w<pass>')
  const stats = await service.sim.stats()
  t.equal(stats.methods.SetField?.count, 3)
  t.equal(stats.methods.AddCustomFieldDef?.count, 1)

  const ticketBot = (await history('Capture01', SECRETS, 'auditor')).filter((e) => e.actor === 'ticket-bot')
  t.same(
    ticketBot.map((e) => [e.source, e.name, e.oldValue, e.newValue]),
    // Newest first: the change's entries in reverse order of writing.
    [
      ['user', 'Logon User Password', 'Tr4inee!', 'N3w<pass>'],
      ['user', 'Room', null, 'B:12'],
      ['user', 'Role', 'Capture', 'Trainer'],
    ],
  )
  const redacted = (await history('Capture01')).find((e) => e.actor === 'ticket-bot' && e.secret)
  t.match(redacted, { oldValue: '***', newValue: '***' })

  const again = await api('PATCH', '/v1/clones/Capture01/attributes', WRITE, 'ticket-bot', { attributes: { Role: 'Trainer' } })
  t.same(again.json().changed, [], 'the same value again changes nothing')
  t.equal((await history('Capture01')).filter((e) => e.actor === 'ticket-bot').length, 3)
})

t.test('PATCH refusals: each with its code, nothing changed', async (t) => {
  await service.sim.resetStats()
  const before = (await sql('SELECT count(*)::int AS n FROM attribute_history')).rows[0].n
  const cases: [string, string, object | undefined, number, string, RegExp][] = [
    ['read-only token', READ, { attributes: { Role: 'x' } }, 403, 'FORBIDDEN', /deployments:write/],
    ['unknown clone', WRITE, { attributes: { Role: 'x' } }, 404, 'CLONE_NOT_FOUND', /Nope01/],
    ['no attributes', WRITE, { attributes: {} }, 400, 'VALIDATION_FAILED', /fewer than 1|at least/],
    ['no body field', WRITE, {}, 400, 'VALIDATION_FAILED', /attributes/],
    ['a number', WRITE, { attributes: { Role: 5 } }, 400, 'VALIDATION_FAILED', /string/],
    ['a control character', WRITE, { attributes: { Role: 'a\u0001b' } }, 400, 'VALIDATION_FAILED', /value of "Role" contains a control character/],
    ['an empty name', WRITE, { attributes: { ' ': 'x' } }, 400, 'VALIDATION_FAILED', /name is empty/],
    ['a long name', WRITE, { attributes: { ['N'.repeat(300)]: 'x' } }, 400, 'VALIDATION_FAILED', /longer than 255/],
  ]
  for (const [what, scope, payload, status, code, message] of cases) {
    const url = what === 'unknown clone' ? '/v1/clones/Nope01/attributes' : '/v1/clones/Capture02/attributes'
    const res = await api('PATCH', url, scope, 'ticket-bot', payload)
    t.equal(res.statusCode, status, what)
    t.equal(res.json().code, code, what)
    t.match(res.json().message, message, what)
  }
  const secret = await api('PATCH', '/v1/clones/Capture02/attributes', WRITE, 'ticket-bot', { attributes: { 'Logon User Password': 'x\u0002' } })
  t.notOk(secret.body.includes('x\u0002') || secret.body.includes('x\\u0002'), 'a value is never echoed')
  const none = await service.app.inject({ method: 'PATCH', url: '/v1/clones/Capture02/attributes', payload: { attributes: { Role: 'x' } } })
  t.equal(none.statusCode, 401)
  const stats = await service.sim.stats()
  t.notOk(stats.methods.SetField, 'nothing written to vCenter')
  t.equal((await sql('SELECT count(*)::int AS n FROM attribute_history')).rows[0].n, before, 'nothing recorded')
})

t.test('clones by attribute: name:value, the first colon separates them', async (t) => {
  const names = async (query: string) => {
    const res = await api('GET', `/v1/clones?${query}`, READ)
    t.equal(res.statusCode, 200, `${query}: ${res.body}`)
    return res.json().clones.map((c: any) => c.name)
  }
  const q = (filter: string) => `attribute=${encodeURIComponent(filter)}`
  t.same(await names(q(`Project:${PROJECT}`)), ['Capture01', 'Capture02', 'Capture03'])
  t.same(await names('attribute=Project:Training%202010'), [], 'values match exactly')
  t.same(await names(q('Role:Trainer')), ['Capture01'])
  t.same(await names(q('Room:B:12')), ['Capture01'], 'a colon in the value')
  t.same(await names(`${q('Role:Trainer')}&${q('Room:B:12')}`), ['Capture01'], 'several filters: all must match')
  t.same(await names(`${q('Role:Trainer')}&${q('Room:A:1')}`), [])
  t.same(await names(`prefix=Capture&${q('Role:Capture')}`), ['Capture02', 'Capture03'])

  const patched = await api('PATCH', '/v1/clones/Capture02/attributes', WRITE, 'ticket-bot', { attributes: { 'Site:Room': 'Lab 1' } })
  t.equal(patched.statusCode, 200, patched.body)
  t.same(await names(q('Site\\:Room:Lab 1')), ['Capture02'], 'a colon in the name is written \\:')

  const secret = await api('GET', `/v1/clones?${q('Logon User Password:Tr4inee!')}`, READ)
  t.equal(secret.statusCode, 400)
  t.match(secret.json(), { code: 'VALIDATION_FAILED', message: /"Logon User Password" is a secret attribute/ })
  const malformed = await api('GET', `/v1/clones?${q('Project')}`, READ)
  t.match(malformed.json(), { code: 'VALIDATION_FAILED', message: /name:value/ })
})

t.test('the sync records changes made in vCenter, reading every clone in one call', async (t) => {
  await setInVcenter('Capture02', { Role: 'Changed in vCenter', 'Logon Administrator Password': 'Rotated!' })
  await service.sim.resetStats()
  const report = await service.app.assets.sync.run()
  t.same(report, { checked: 3, changes: 2, vanished: 0, reappeared: 0 })
  const stats = await service.sim.stats()
  t.equal(stats.methods.RetrievePropertiesEx?.count, 1, 'one bulk read for all the clones')
  t.equal(stats.total, 1)

  const entries = (await history('Capture02', SECRETS, 'auditor')).filter((e) => e.source === 'vcenter')
  t.same(
    entries.map((e) => [e.actor, e.name, e.oldValue, e.newValue]),
    // Newest first: the sync's entries in reverse order of writing.
    [
      ['attribute-sync', 'Role', 'Capture', 'Changed in vCenter'],
      ['attribute-sync', 'Logon Administrator Password', 'S3cret<&>', 'Rotated!'],
    ],
  )
  const clone = (await api('GET', '/v1/clones/Capture02', READ)).json()
  t.equal(clone.attributes.find((a: any) => a.name === 'Role').value, 'Changed in vCenter', 'the records follow vCenter')
  t.same(await service.app.assets.sync.run(), { checked: 3, changes: 0, vanished: 0, reappeared: 0 }, 'nothing twice')
})

t.test('vCenter and PostgreSQL change together, or neither does', async (t) => {
  const caller = { sub: 'lab-admin', canReadSecrets: false, canWriteSecrets: true, teams: 'all' as const }
  const carolEntries = async () => (await history('Capture03')).filter((e) => e.actor === 'lab-admin')

  await t.test('vCenter fails part-way: what was written is restored', async (t) => {
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
    const attributes = new AttributeService(service.app.assets.store, service.app.repositories.clones, faulty, service.app.log)
    await t.rejects(
      attributes.setAttributes('Capture03', [{ name: 'Role', value: 'Half' }, { name: 'Project', value: 'Written?' }], caller),
      { code: 'VCENTER_UNAVAILABLE', statusCode: 503 },
    )
    const values = await vcenterValues('Capture03')
    t.equal(values.get('Role'), 'Capture', 'the value written before the failure was restored')
    t.equal(values.get('Project'), PROJECT)
    t.same(await carolEntries(), [], 'nothing recorded')
    const clone = (await api('GET', '/v1/clones/Capture03', READ)).json()
    t.equal(clone.attributes.find((a: any) => a.name === 'Role').value, 'Capture')
  })

  await t.test('PostgreSQL fails after vCenter was written: vCenter is restored', async (t) => {
    await sql(`CREATE FUNCTION test_refuse_history() RETURNS trigger AS $$
      BEGIN IF NEW.new_value = 'refused by the database' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`)
    await sql(`CREATE TRIGGER test_refuse_history BEFORE INSERT ON attribute_history FOR EACH ROW EXECUTE FUNCTION test_refuse_history()`)
    t.teardown(() => sql('DROP TRIGGER test_refuse_history ON attribute_history; DROP FUNCTION test_refuse_history()'))
    await service.sim.resetStats()
    const res = await api('PATCH', '/v1/clones/Capture03/attributes', WRITE, 'lab-admin', { attributes: { Role: 'refused by the database' } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'INTERNAL_ERROR')
    t.equal((await service.sim.stats()).methods.SetField?.count, 2, 'written, then written back')
    t.equal((await vcenterValues('Capture03')).get('Role'), 'Capture')
    t.same(await carolEntries(), [])
  })

  await t.test('vCenter unreachable: 503, nothing changed', async (t) => {
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
    const res = await app.inject({ method: 'PATCH', url: '/v1/clones/Capture03/attributes', headers: service.auth(WRITE, 'lab-admin', LAB), payload: { attributes: { Role: 'x' } } })
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, 'VCENTER_UNAVAILABLE')
    t.same(await carolEntries(), [])
  })
})

t.test('secret values never reach the logs, even at trace level', async (t) => {
  const { app, lines } = await appWithLogs(service, t, { env: { SECRETS_KEY } })
  const headers = service.auth(`${WRITE} secrets:read`, 'secrets-admin', LAB)
  const set = await app.inject({ method: 'PATCH', url: '/v1/clones/Capture02/attributes', headers, payload: { attributes: { 'Logon User Password': 'N3ver-Logged!' } } })
  t.equal(set.statusCode, 200, set.body)
  t.equal(set.json().clone.attributes.find((a: any) => a.name === 'Logon User Password').value, 'N3ver-Logged!')
  const bad = await app.inject({ method: 'PATCH', url: '/v1/clones/Capture02/attributes', headers, payload: { attributes: { 'Logon User Password': 'N3ver-Logged!\u0001' } } })
  t.equal(bad.statusCode, 400)
  await app.inject({ url: '/v1/clones/Capture02/history', headers })
  t.ok(lines.length > 5, `${lines.length} log lines`)
  t.notOk(lines.some((l) => l.includes('N3ver-Logged')), 'the value is in no log line')
  t.ok(lines.some((l) => l.includes('"changed":["Logon User Password"]')), 'what changed is logged, by name')
})

t.test('a clone destroyed in vCenter keeps its records and provenance', async (t) => {
  const ref = await vmRef('Capture03')
  await vc.tasks.watch(await vc.powerOffVM(ref))
  await vc.tasks.watch(await vc.destroy(ref))
  const report = await service.app.assets.sync.run()
  t.match(report, { checked: 2, vanished: 1, changes: 0 })
  t.match(await service.app.assets.sync.run(), { vanished: 0 }, 'recorded once')

  const clone = (await api('GET', '/v1/clones/Capture03', READ)).json()
  t.equal(clone.status, 'ready')
  t.match(clone.provenance, { ticket: 'RITM0012345', parent: { name: 'Tmpl Capture 1.0' }, vm: { moref: ref.value, vanishedAt: /^\d{4}-/ } })
  t.equal(clone.attributes.length, 11)
  const [last] = await history('Capture03') // newest first
  t.match(last, { event: 'vanished', source: 'vcenter', actor: 'attribute-sync', name: null })

  const patch = await api('PATCH', '/v1/clones/Capture03/attributes', WRITE, 'ticket-bot', { attributes: { Role: 'x' } })
  t.equal(patch.statusCode, 410)
  t.equal(patch.json().code, 'CLONE_GONE')

  await t.rejects(sql(`DELETE FROM clones WHERE name = 'Capture03'`), /never deleted/)
  await t.rejects(sql(`DELETE FROM attribute_history`), /never deleted/)
  await t.rejects(sql(`DELETE FROM deployments`), /never deleted/)
})

t.test('plain-text secrets are sealed at start-up, and keys rotate', async (t) => {
  const [capture01] = (await sql(`SELECT id FROM clones WHERE name = 'Capture01'`)).rows
  // As written before encryption at rest: a plain value, and a deployment's plain copy.
  await sql(`UPDATE clone_attributes SET value = 'Legacy!', sealed_value = NULL, key_id = NULL WHERE clone_id = $1 AND name = 'Logon Administrator Password'`, [capture01.id])
  await sql(
    `UPDATE deployments SET attribute_values = (SELECT jsonb_agg(CASE WHEN v->>'name' = 'Logon User Password' THEN jsonb_build_object('name', v->>'name', 'value', 'Legacy!') ELSE v END) FROM jsonb_array_elements(attribute_values) v) WHERE id = $1`,
    [deploymentId],
  )
  const store = service.app.assets.store
  t.equal(await store.sealAtRest(), 2)
  t.equal(await store.sealAtRest(), 0, 'idempotent')
  const { rows } = await sql(`SELECT count(*)::int AS n FROM clone_attributes a, deployments d WHERE a::text LIKE '%Legacy!%' OR d::text LIKE '%Legacy!%'`)
  t.equal(rows[0].n, 0)
  const read = async (s: AttributeStore) => (await s.current([capture01.id], { reveal: true })).get(capture01.id)!.find((a) => a.name === 'Logon Administrator Password')!.value
  t.equal(await read(store), 'Legacy!')
  t.same(store.openDeploymentValues((await sql('SELECT id, attribute_values AS "attributeValues" FROM deployments WHERE id = $1', [deploymentId])).rows[0]).find((v) => v.name === 'Logon User Password'), { name: 'Logon User Password', value: 'Legacy!' })

  // A new SECRETS_KEY, the old one in SECRETS_KEY_PREVIOUS: everything is re-sealed with the new key.
  const newKey = generateKey()
  const rotated = new AttributeStore(service.app.database.db, Keyring.fromBase64(newKey, [SECRETS_KEY]))
  t.ok((await rotated.sealAtRest()) > 10, 'values, history entries and deployments re-sealed')
  const keys = await sql(`SELECT DISTINCT key_id FROM clone_attributes WHERE key_id IS NOT NULL UNION SELECT DISTINCT key_id FROM attribute_history WHERE key_id IS NOT NULL`)
  t.same(keys.rows.map((r) => r.key_id), [Keyring.fromBase64(newKey).currentKeyId], 'one key id left: the new one')
  const onlyNew = new AttributeStore(service.app.database.db, Keyring.fromBase64(newKey))
  t.equal(await read(onlyNew), 'Legacy!', 'the old key is no longer needed')
  await t.rejects(read(store), /neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS/, 'the service still on the old key says what is missing')
  // Back to the service's key for whatever runs next.
  await new AttributeStore(service.app.database.db, Keyring.fromBase64(SECRETS_KEY, [newKey])).sealAtRest()
  t.equal(await read(store), 'Legacy!')

  // SECRET_ATTRIBUTES widened: the newly secret attributes' plain values and history are sealed too.
  const stricter = new AttributeStore(service.app.database.db, Keyring.fromBase64(SECRETS_KEY), ['Password', 'consultant'])
  t.ok((await stricter.sealAtRest()) >= 3 * 2 * 2, 'two attributes of three clones, and their history')
  for (const table of ['clone_attributes', 'attribute_history', 'deployments']) {
    const { rows } = await sql(`SELECT count(*)::int AS n FROM ${table} t WHERE t::text LIKE '%Infra Team%'`)
    t.equal(rows[0].n, 0, `no "Infrastructure Consultant" value in plain text in ${table}`)
  }
  const clone = (await api('GET', '/v1/clones/Capture01', READ)).json()
  t.equal(clone.attributes.find((a: any) => a.name === 'Infrastructure Consultant').value, '***', 'sealed values read as secrets')
  t.equal(clone.attributes.find((a: any) => a.name === 'Role').value, 'Trainer', 'the others stay plain')
})
