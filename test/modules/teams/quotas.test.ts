/**
 * Quotas per team (issue 13): an admin sets them, a member reads its team's quota and usage, and a
 * deployment, a pool's creation or scale-up that would pass them is 422 QUOTA_EXCEEDED and records
 * nothing; concurrent requests of a team, on two replicas, get exactly the places left.
 */
import t from 'tap'
import { appWithLogs, connectToSimulator, startTestService, type TestService } from '../../helpers/service.js'
import type { VimClient } from '../../../src/vim25/index.js'

const PARENT = 'Tmpl Capture 1.0'
const MEMBER = 'deployments:read deployments:write'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService()
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

/** A member of `team` only (its sub named after it), or an admin. */
const member = (team: string, scope = MEMBER) => service.auth(scope, `${team}-user`, [team])
const admin = () => service.auth('admin', 'root')

function call(method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, headers: Record<string, string>, payload?: object) {
  return service.app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
}

const setQuota = (team: string, quota: object) => call('PUT', `/v1/teams/${encodeURIComponent(team)}/quota`, admin(), quota)
const getTeam = async (team: string) => (await call('GET', `/v1/teams/${encodeURIComponent(team)}`, member(team))).json()

async function vmNamesWith(prefix: string): Promise<string[]> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])
  return all.map((o) => String(o.props.name)).filter((n) => n.startsWith(prefix))
}

async function rows(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await service.app.database.pool.query(`SELECT count(*)::int AS n FROM ${sql}`, values)
  return rows[0].n
}

/** Polls a deployment (as a member of its team) until it is final. */
async function finished(team: string, id: string): Promise<Record<string, any>> {
  for (let i = 0; i < 600; i++) {
    const body = (await call('GET', `/v1/deployments/${id}`, member(team))).json()
    if (body.status === 'succeeded' || body.status === 'failed') return body
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`deployment ${id} not final`)
}

const deploy = (team: string, prefix: string, count: number, headers = member(team)) =>
  call('POST', '/v1/deployments', headers, { parent: PARENT, prefix, startNumber: 1, count })

t.test('an admin sets a quota, a member reads it with its usage; no one else sets or sees it', async (t) => {
  const refused = await call('PUT', '/v1/teams/alpha/quota', member('alpha'), { maxClones: 100 })
  t.equal(refused.statusCode, 403, 'a member cannot set its own quota')
  t.equal(refused.json().code, 'FORBIDDEN')

  const set = await setQuota('alpha', { maxClones: 3 })
  t.equal(set.statusCode, 200, set.body)
  t.match(set.json(), { team: 'alpha', quota: { maxClones: 3, maxProvisionedGB: null, updatedBy: 'root' }, usage: { clones: 0, provisionedGB: 0 } })

  const read = await call('GET', '/v1/teams/alpha', member('alpha'))
  t.equal(read.statusCode, 200, read.body)
  t.match(read.json(), { team: 'alpha', quota: { maxClones: 3, maxProvisionedGB: null }, usage: { clones: 0, provisionedGB: 0 } })
  t.type(read.json().quota.updatedAt, 'string')

  // An omitted limit is kept; null lifts it.
  t.match((await setQuota('alpha', { maxProvisionedGB: 50.5 })).json().quota, { maxClones: 3, maxProvisionedGB: 50.5 })
  t.match((await setQuota('alpha', { maxProvisionedGB: null })).json().quota, { maxClones: 3, maxProvisionedGB: null })

  for (const [what, headers, team] of [
    ['another team', member('beta'), 'alpha'],
    ['a team no one knows, to an admin', admin(), 'nobody'],
    ['a team no one knows, to a member', member('beta'), 'nobody'],
  ] as const) {
    const res = await call('GET', `/v1/teams/${team}`, headers)
    t.equal(res.statusCode, 404, `${what}: ${res.body}`)
    t.equal(res.json().code, 'TEAM_NOT_FOUND')
    t.equal(res.json().message, `No team "${team}" is known to this service`, 'the same answer whether or not it exists')
  }
  const own = await call('GET', '/v1/teams/beta', member('beta'))
  t.equal(own.statusCode, 200, 'its own team, with no quota and nothing deployed yet')
  t.match(own.json().quota, { maxClones: null, maxProvisionedGB: null, updatedBy: null, updatedAt: null })
  t.equal((await call('GET', '/v1/teams/alpha', admin())).statusCode, 200, 'an admin reads any known team')

  const mine = (await call('GET', '/v1/teams', member('alpha'))).json()
  t.same(mine.items.map((i: any) => i.team), ['alpha'])
  t.ok((await call('GET', '/v1/teams', admin())).json().items.some((i: any) => i.team === 'alpha'), 'an admin lists the teams with quotas')

  for (const body of [{}, { maxClones: -1 }, { maxClones: 1.5 }, { maxProvisionedGB: 'many' }, { other: 1 }]) {
    const bad = await setQuota('alpha', body)
    t.equal(bad.statusCode, 400, `${JSON.stringify(body)}: ${bad.body}`)
    t.equal(bad.json().code, 'VALIDATION_FAILED')
  }
  t.equal((await getTeam('alpha')).quota.maxClones, 3, 'a refused change changes nothing')
})

t.test('a deployment over the quota is 422 with the figures and records nothing', async (t) => {
  await setQuota('alpha', { maxClones: 3, maxProvisionedGB: null })
  const first = await deploy('alpha', 'Qa', 2)
  t.equal(first.statusCode, 202, first.body)
  // Accepted but unfinished clones count at once.
  t.equal((await getTeam('alpha')).usage.clones, 2)

  const over = await deploy('alpha', 'Qb', 2)
  t.equal(over.statusCode, 422, over.body)
  t.equal(over.json().code, 'QUOTA_EXCEEDED')
  t.same(over.json().details, { team: 'alpha', limit: 3, used: 2, requested: 2, unit: 'clones' })
  t.equal(await rows('deployments WHERE team = $1', ['alpha']), 1, 'no deployment recorded')
  t.equal(await rows('clones WHERE name LIKE $1', ['Qb%']), 0, 'no clone recorded')

  const done = await finished('alpha', first.json().id)
  t.equal(done.status, 'succeeded')
  t.same(await vmNamesWith('Qb'), [], 'no VM made')
  const usage = (await getTeam('alpha')).usage
  t.equal(usage.clones, 2, 'ready clones count too')
  const perClone = usage.provisionedGB / 2
  t.ok(perClone > 0.13, `each clone counts its delta and its swap file (${perClone} GB)`)

  // The last place is still free.
  const last = await deploy('alpha', 'Qc', 1)
  t.equal(last.statusCode, 202, last.body)
  await finished('alpha', last.json().id)

  // Provisioned GB: no limit on clones, and less GB than one more clone needs.
  const limit = Math.floor(((await getTeam('alpha')).usage.provisionedGB + perClone / 2) * 10) / 10
  await setQuota('alpha', { maxClones: null, maxProvisionedGB: limit })
  const gb = await deploy('alpha', 'Qd', 1)
  t.equal(gb.statusCode, 422, gb.body)
  t.match(gb.json().details, { team: 'alpha', limit, unit: 'GB', requested: perClone })
  t.equal(gb.json().details.used, (await getTeam('alpha')).usage.provisionedGB)
  t.equal(await rows('clones WHERE name LIKE $1', ['Qd%']), 0)
})

t.test('a pool creation or scale-up over the quota is 422 and records nothing; a refresh adds no usage', async (t) => {
  await setQuota('gamma', { maxClones: 3 })
  const gamma = member('gamma')

  const big = await call('POST', '/v1/pools', gamma, { name: 'qpool', parent: PARENT, prefix: 'Qp', startNumber: 1, size: 4 })
  t.equal(big.statusCode, 422, big.body)
  t.same(big.json().details, { team: 'gamma', limit: 3, used: 0, requested: 4, unit: 'clones' })
  t.equal((await call('GET', '/v1/pools/qpool', admin())).statusCode, 404, 'no pool recorded')
  t.equal(await rows('pools WHERE team = $1', ['gamma']), 0)
  t.equal(await rows('deployments WHERE team = $1', ['gamma']), 0)

  const made = await call('POST', '/v1/pools', gamma, { name: 'qpool', parent: PARENT, prefix: 'Qp', startNumber: 1, size: 2 })
  t.equal(made.statusCode, 202, made.body)
  await finished('gamma', made.json().deploymentId)

  const up = await call('PATCH', '/v1/pools/qpool', gamma, { size: 4 })
  t.equal(up.statusCode, 422, up.body)
  t.same(up.json().details, { team: 'gamma', limit: 3, used: 2, requested: 2, unit: 'clones' })
  t.equal((await call('GET', '/v1/pools/qpool', gamma)).json().size, 2, 'the pool keeps its size')
  t.equal(await rows('deployments WHERE team = $1', ['gamma']), 1, 'no deployment recorded')
  t.same((await vmNamesWith('Qp')).sort(), ['Qp01', 'Qp02'], 'no VM made')

  const fits = await call('PATCH', '/v1/pools/qpool', gamma, { size: 3 })
  t.equal(fits.statusCode, 202, fits.body)
  await finished('gamma', fits.json().deploymentId)
  t.equal((await getTeam('gamma')).usage.clones, 3)

  // At the limit, a refresh replaces the clones one for one: accepted, and the pair counts once.
  const refresh = await call('POST', '/v1/pools/qpool/refresh', gamma, {})
  t.equal(refresh.statusCode, 202, refresh.body)
  t.equal((await getTeam('gamma')).usage.clones, 3, 'a clone and its replacement count once')
  const done = await finished('gamma', refresh.json().deploymentId)
  t.equal(done.status, 'succeeded')
  t.equal((await getTeam('gamma')).usage.clones, 3)
})

t.test('10 concurrent deployments on two replicas racing for the last places: exactly the quota is accepted', async (t) => {
  const { app: replica } = await appWithLogs(service, t, { logLevel: 'silent' })
  await setQuota('delta', { maxClones: 5 })
  // Two places already taken.
  const taken = await deploy('delta', 'Qr', 2)
  t.equal(taken.statusCode, 202, taken.body)

  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? service.app : replica).inject({
        method: 'POST',
        url: '/v1/deployments',
        headers: member('delta'),
        payload: { parent: PARENT, prefix: `Qz${String.fromCharCode(97 + i)}`, startNumber: 1, count: 1 },
      }),
    ),
  )
  const accepted = answers.filter((a) => a.statusCode === 202)
  const refused = answers.filter((a) => a.statusCode === 422)
  t.equal(accepted.length, 3, 'as many as places were left')
  t.equal(refused.length, 7, answers.map((a) => a.statusCode).join(','))
  for (const r of refused) t.match(r.json(), { code: 'QUOTA_EXCEEDED', details: { team: 'delta', limit: 5, used: 5, requested: 1, unit: 'clones' } })
  t.equal(await rows(`clones WHERE team = $1 AND status NOT IN ('failed', 'destroyed')`, ['delta']), 5, 'exactly the quota recorded')
  for (const a of [taken, ...accepted]) await finished('delta', a.json().id)
  t.equal((await getTeam('delta')).usage.clones, 5)
})

t.test('GraphQL: team, setTeamQuota, and deployLinkedClones over the quota', async (t) => {
  const gql = async (headers: Record<string, string>, query: string, variables: object = {}) =>
    (await service.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, variables } })).json()
  const TEAM = 'query ($name: String!) { team(name: $name) { name quota { maxClones maxProvisionedGB updatedBy } usage { clones provisionedGB } } }'
  const SET = 'mutation ($team: String!, $max: Int) { setTeamQuota(team: $team, maxClones: $max) { name quota { maxClones maxProvisionedGB } } }'

  const forbidden = await gql(member('epsilon'), SET, { team: 'epsilon', max: 100 })
  t.equal(forbidden.errors?.[0]?.extensions?.code, 'FORBIDDEN', 'a member cannot set a quota')
  const set = await gql(admin(), SET, { team: 'epsilon', max: 1 })
  t.same(set.data.setTeamQuota, { name: 'epsilon', quota: { maxClones: 1, maxProvisionedGB: null } })
  const negative = await gql(admin(), SET, { team: 'epsilon', max: -1 })
  t.equal(negative.errors?.[0]?.extensions?.code, 'VALIDATION_FAILED')

  const read = await gql(member('epsilon'), TEAM, { name: 'epsilon' })
  t.same(read.data.team, { name: 'epsilon', quota: { maxClones: 1, maxProvisionedGB: null, updatedBy: 'root' }, usage: { clones: 0, provisionedGB: 0 } })
  const other = await gql(member('beta'), TEAM, { name: 'epsilon' })
  t.equal(other.errors?.[0]?.extensions?.code, 'TEAM_NOT_FOUND', "another team's is not found")
  t.notOk(other.data?.team)

  const DEPLOY = 'mutation ($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { id } }'
  const over = await gql(member('epsilon'), DEPLOY, { input: { parent: PARENT, prefix: 'Qg', startNumber: 1, count: 2 } })
  t.equal(over.errors?.[0]?.extensions?.code, 'QUOTA_EXCEEDED')
  t.same(over.errors?.[0]?.extensions?.details, { team: 'epsilon', limit: 1, used: 0, requested: 2, unit: 'clones' })
  t.equal(await rows('deployments WHERE team = $1', ['epsilon']), 0, 'nothing recorded')

  const fits = await gql(member('epsilon'), DEPLOY, { input: { parent: PARENT, prefix: 'Qg', startNumber: 1, count: 1 } })
  t.ok(fits.data?.deployLinkedClones?.id, JSON.stringify(fits.errors))
  t.equal((await gql(member('epsilon'), TEAM, { name: 'epsilon' })).data.team.usage.clones, 1)
  await finished('epsilon', fits.data.deployLinkedClones.id)
})
