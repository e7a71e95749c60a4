/**
 * Teams and clones (issue #13): setting another team's clone's attributes is CLONE_NOT_FOUND and
 * changes nothing; writing a secret attribute needs secrets:write (FORBIDDEN, nothing written, REST
 * and GraphQL); writing a secret never tells whether the value was the one held (no guessing oracle);
 * the space report counts only the caller's teams' clones (admin: all).
 */
import t from 'tap'
import { generateKey } from '../../../src/domain/secrets.js'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

let service: TestService
const names: Record<'red' | 'blue', string> = { red: '', blue: '' }
const SECRET = 'Logon User Password'
const red = (scope = 'deployments:read deployments:write secrets:write') => service.auth(scope, 'red-user', ['red'])
const blue = (scope = 'deployments:read deployments:write secrets:write') => service.auth(scope, 'blue-user', ['blue'])
const admin = () => service.auth('admin', 'root')

t.before(async () => {
  service = await startTestService({ env: { SECRETS_KEY: generateKey() } })
  for (const [team, headers, parent] of [['red', red(), 'Tmpl Capture 1.0'], ['blue', blue(), 'Tmpl Packaging 1.0']] as const) {
    const res = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers, payload: { parent, count: 1, startNumber: 700 } })
    if (res.statusCode !== 202) throw new Error(res.body)
    const done = await waitForDeployment(service, res.json().id, 180_000)
    if (done.status !== 'succeeded') throw new Error(JSON.stringify(done))
    names[team] = done.clones[0].name
  }
})
t.teardown(() => service?.stop())

const patch = (name: string, headers: Record<string, string>, attributes: Record<string, string>) =>
  service.app.inject({ method: 'PATCH', url: `/v1/clones/${name}/attributes`, headers, payload: { attributes } })

async function graphql(headers: Record<string, string>, query: string, variables: Record<string, unknown> = {}) {
  const res = await service.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })
  return res.json() as { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, any> }[] }
}

const SET = `mutation($clone: String!, $attributes: [AttributeInput!]!) { setCloneAttributes(clone: $clone, attributes: $attributes) { changed } }`

/** The clone's history entries and current attribute rows: what a refused write must leave alone. */
async function recorded(name: string) {
  const { rows } = await service.app.database.pool.query(
    `SELECT (SELECT count(*)::int FROM attribute_history h WHERE h.clone_id = c.id) AS history,
            (SELECT json_agg(json_build_object('name', a.name, 'value', a.value, 'sealed', a.sealed_value, 'at', a.updated_at) ORDER BY a.name)
               FROM clone_attributes a WHERE a.clone_id = c.id) AS attributes
       FROM clones c WHERE c.name = $1 AND c.status = 'ready'`,
    [name],
  )
  return rows[0]
}

t.test("another team's clone: its attributes cannot be set, as if it did not exist", async (t) => {
  const before = await recorded(names.blue)
  const res = await patch(names.blue, red(), { Project: 'Hijacked' })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'CLONE_NOT_FOUND')
  const missing = await patch('NoSuchClone01', red(), { Project: 'Hijacked' })
  t.equal(res.json().message, missing.json().message.replace('NoSuchClone01', names.blue), 'the same message as a missing clone')
  const g = await graphql(red(), SET, { clone: names.blue, attributes: [{ name: 'Project', value: 'Hijacked' }] })
  t.equal(g.errors?.[0]?.extensions?.code, 'CLONE_NOT_FOUND')
  t.same(await recorded(names.blue), before, 'nothing written')
  const own = await patch(names.blue, blue(), { Project: 'Blue project' })
  t.equal(own.statusCode, 200, own.body)
  t.same(own.json().changed, ['Project'])
  t.equal(own.json().clone.team, 'blue')
  t.equal((await patch(names.blue, admin(), { Project: 'By admin' })).statusCode, 200, 'admin acts on every team\'s clone')
})

t.test('setting or clearing a secret attribute needs secrets:write; nothing is written without it', async (t) => {
  const noSecrets = red('deployments:read deployments:write')
  const before = await recorded(names.red)
  for (const value of ['N3w-Pass', '']) {
    const res = await patch(names.red, noSecrets, { Project: 'Also refused', [SECRET]: value })
    t.equal(res.statusCode, 403, `value ${JSON.stringify(value)}`)
    t.match(res.json(), { code: 'FORBIDDEN', details: { required: 'secrets:write' } })
    t.notOk(res.body.includes('N3w-Pass'), 'the value is not echoed')
    const g = await graphql(noSecrets, SET, { clone: names.red, attributes: [{ name: SECRET, value }] })
    t.match(g.errors?.[0]?.extensions, { code: 'FORBIDDEN', details: { required: 'secrets:write' } })
  }
  // Any name matching the secret patterns (default: containing Password, in any case).
  t.equal((await patch(names.red, noSecrets, { 'Backup PASSWORD': 'x' })).statusCode, 403)
  t.same(await recorded(names.red), before, 'nothing written, not even the other attribute')
  t.equal((await patch(names.red, noSecrets, { Project: 'Allowed' })).statusCode, 200, 'other attributes need no secrets:write')
  const res = await patch(names.red, red(), { [SECRET]: 'N3w-Pass' })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().changed, [SECRET])
})

t.test('writing a secret does not tell whether the value given was the one held', async (t) => {
  const set = async (value: string) => {
    const res = await patch(names.red, red(), { [SECRET]: value, Project: 'Same' })
    t.equal(res.statusCode, 200, res.body)
    return res.json().changed as string[]
  }
  await set('Guess-1')
  const history = async () => (await recorded(names.red)).history as number
  const first = await history()
  // The same secret again (a right guess) answers as a different one (a wrong guess) would.
  t.same(await set('Guess-1'), [SECRET], 'a secret is always listed as changed; an equal plain value is not')
  const second = await history()
  t.equal(second, first + 1, 'and recorded in the history, which a reader could otherwise compare')
  t.same(await set('Guess-2'), [SECRET])
  t.equal(await history(), second + 1)
  const g = await graphql(red(), SET, { clone: names.red, attributes: [{ name: SECRET, value: 'Guess-2' }] })
  t.same(g.data?.setCloneAttributes.changed, [SECRET], 'GraphQL alike')
  const read = await service.app.inject({ url: `/v1/clones/${names.red}`, headers: red('deployments:read secrets:read') })
  t.equal(read.json().attributes.find((a: any) => a.name === SECRET).value, 'Guess-2', 'the value written is held')
})

t.test("the space report counts only the caller's teams' clones; admin all", async (t) => {
  const report = async (headers: Record<string, string>) => {
    const res = await service.app.inject({ url: '/v1/reports/space', headers })
    t.equal(res.statusCode, 200, res.body)
    return res.json()
  }
  const ofRed = await report(red('deployments:read'))
  t.same(ofRed.parents.map((p: any) => [p.name, p.count]), [['Tmpl Capture 1.0', 1]])
  t.equal(ofRed.total.count, 1)
  const ofBlue = await report(blue('deployments:read'))
  t.same(ofBlue.parents.map((p: any) => [p.name, p.count]), [['Tmpl Packaging 1.0', 1]])
  const ofAdmin = await report(admin())
  t.equal(ofAdmin.total.count, 2)
  const none = await report(service.auth('deployments:read', 'green-user', ['green']))
  t.same(none.parents, [])
  t.equal(none.total.count, 0)
  const svg = await service.app.inject({ url: '/v1/reports/space.svg', headers: red('deployments:read') })
  t.equal(svg.statusCode, 200)
  t.match(svg.body, /Capture/)
  t.notMatch(svg.body, /Packaging/, "another team's parent is not drawn")
})
