/**
 * Parents and teams, against the lab simulator and a real PostgreSQL (no workers: a preparation
 * stays queued, so vCenter changes only if a request itself changed it): `parents:write` guards
 * prepare, snapshot removal and revert; a preparation belongs to a team and only that team (and
 * admin) sees it; another team's live pool on a parent blocks its destructive operations, naming
 * no pool of that team.
 */
import t from 'tap'
import { VimClient, type MoRef } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService } from '../../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const VERIFICATION = 'Tmpl Verification 1.0'
const WRITE = 'deployments:read deployments:write parents:write'

let service: TestService
let vc: VimClient

t.before(async () => {
  service = await startTestService({ runWorkers: false })
  vc = await connectToSimulator(service.sim)
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

const enc = encodeURIComponent

interface Caller {
  scope?: string
  sub?: string
  teams?: string[]
}

function call(method: 'GET' | 'POST' | 'DELETE', url: string, caller: Caller = {}, payload?: object) {
  return service.app.inject({ method, url, headers: service.auth(caller.scope ?? WRITE, caller.sub, caller.teams), ...(payload ? { payload } : {}) })
}

async function vmNamed(name: string): Promise<{ ref: MoRef; powerState: string; snapshots: string[]; current?: string }> {
  const all = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'runtime.powerState', 'snapshot'])
  const found = all.find((o) => o.props.name === name)
  if (!found) throw new Error(`no VM ${name}`)
  const info = found.props.snapshot as { currentSnapshot?: MoRef; rootSnapshotList?: unknown } | undefined
  const snapshots: string[] = []
  const walk = (list: unknown) => {
    for (const node of ([] as any[]).concat(list ?? [])) {
      snapshots.push(node.snapshot.value)
      walk(node.childSnapshotList)
    }
  }
  walk(info?.rootSnapshotList)
  return { ref: found.obj, powerState: String(found.props['runtime.powerState']), snapshots, current: info?.currentSnapshot?.value }
}

async function poweredOn(name: string) {
  const vm = await vmNamed(name)
  if (vm.powerState !== 'poweredOn') await vc.tasks.watch(await vc.powerOnVM(vm.ref))
  return vmNamed(name)
}

const ALPHA: Caller = { sub: 'alice', teams: ['alpha'] }
const BETA: Caller = { sub: 'bob', teams: ['beta'] }

t.test('prepare, snapshot removal and revert need parents:write (or admin); refused, nothing changes', async (t) => {
  const before = await poweredOn(CAPTURE)
  const snapshot = before.current!
  const noParents = { ...ALPHA, scope: 'deployments:read deployments:write secrets:write' }
  const attempts = await Promise.all([
    call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, noParents, {}),
    call('DELETE', `/v1/parents/${enc(CAPTURE)}/snapshots/${snapshot}`, noParents),
    call('POST', `/v1/parents/${enc(CAPTURE)}/snapshots/${snapshot}/revert`, noParents),
  ])
  for (const res of attempts) {
    t.equal(res.statusCode, 403, res.body)
    t.equal(res.json().code, 'FORBIDDEN')
    t.equal(res.json().details.required, 'parents:write')
  }
  const after = await vmNamed(CAPTURE)
  t.equal(after.powerState, 'poweredOn')
  t.same(after.snapshots, before.snapshots)
  t.equal(after.current, before.current)
  const recorded = await call('GET', `/v1/parents/${enc(CAPTURE)}/preparations`, { ...ALPHA, scope: 'admin' })
  t.same(recorded.json().preparations, [], 'no preparation recorded')

  // parents:write alone is enough for the write (and admin holds every scope).
  const reads = await call('GET', `/v1/parents/${enc(CAPTURE)}/snapshots`, { ...ALPHA, scope: 'parents:write' })
  t.equal(reads.statusCode, 403, 'but reading needs deployments:read')
  const missing = await call('DELETE', `/v1/parents/${enc(CAPTURE)}/snapshots/snapshot-999999`, { ...ALPHA, scope: 'parents:write' })
  t.equal(missing.json().code, 'SNAPSHOT_NOT_FOUND', 'parents:write passes the scope check')
  const admin = await call('DELETE', `/v1/parents/${enc(CAPTURE)}/snapshots/snapshot-999999`, { ...ALPHA, scope: 'admin' })
  t.equal(admin.json().code, 'SNAPSHOT_NOT_FOUND', 'admin passes the scope check')
})

t.test("a preparation is its team's: another team's is 404, admin sees it", async (t) => {
  const several: Caller = { sub: 'carol', teams: ['alpha', 'gamma'] }
  const required = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, several, {})
  t.equal(required.statusCode, 400, required.body)
  t.equal(required.json().code, 'TEAM_REQUIRED')
  const forbidden = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, several, { team: 'beta' })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'TEAM_FORBIDDEN')
  const tooLong = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, several, { team: 'x'.repeat(201) })
  t.equal(tooLong.statusCode, 400)
  t.equal(tooLong.json().code, 'VALIDATION_FAILED')

  const prepared = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, several, { team: 'gamma', snapshotName: 'Gamma 1' })
  t.equal(prepared.statusCode, 202, prepared.body)
  t.equal(prepared.json().team, 'gamma')
  const id = prepared.json().id as string
  const location = prepared.headers.location as string

  const own = await call('GET', location, { sub: 'dave', teams: ['gamma'] })
  t.equal(own.statusCode, 200)
  t.equal(own.json().team, 'gamma')
  const ownList = await call('GET', `/v1/parents/${enc(CAPTURE)}/preparations`, { sub: 'dave', teams: ['gamma'] })
  t.same(ownList.json().preparations.map((p: { id: string }) => p.id), [id])

  const other = await call('GET', location, ALPHA)
  t.equal(other.statusCode, 404)
  t.equal(other.json().code, 'PREPARATION_NOT_FOUND')
  const unknown = await call('GET', `/v1/parents/${enc(CAPTURE)}/preparations/00000000-0000-4000-8000-000000000000`, ALPHA)
  t.same(
    { status: other.statusCode, code: other.json().code },
    { status: unknown.statusCode, code: unknown.json().code },
    'the same answer as a preparation that does not exist',
  )
  const otherList = await call('GET', `/v1/parents/${enc(CAPTURE)}/preparations`, ALPHA)
  t.same(otherList.json().preparations, [])

  const admin = await call('GET', location, { sub: 'root', scope: 'admin' })
  t.equal(admin.statusCode, 200)
  t.equal(admin.json().team, 'gamma')

  // Another team preparing the same parent meanwhile: busy, without the other team's preparation id.
  const busy = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, BETA, { snapshotName: 'Gamma 1' })
  t.equal(busy.statusCode, 409, busy.body)
  t.equal(busy.json().code, 'PARENT_BUSY')
  t.notOk(busy.json().details.preparationId, "another team's preparation is not named")
  t.notMatch(busy.body, id)
  const sameTeam = await call('POST', `/v1/parents/${enc(CAPTURE)}/prepare`, { sub: 'dave', teams: ['gamma'] }, { snapshotName: 'Gamma 1' })
  t.equal(sameTeam.statusCode, 202, 'the same request by the same team answers its preparation')
  t.equal(sameTeam.json().id, id)
})

t.test("another team's live pool blocks prepare, snapshot removal and revert, for admin too; its pools are not named", async (t) => {
  const pool = await call('POST', '/v1/pools', BETA, { name: 'beta-secret-pool', parent: PACKAGING, prefix: 'BetaPkg', startNumber: 1, size: 1 })
  t.equal(pool.statusCode, 202, pool.body)
  const before = await poweredOn(PACKAGING)
  const snapshot = before.current!

  for (const caller of [ALPHA, { sub: 'root', scope: 'admin', teams: ['ops'] }]) {
    const answers = await Promise.all([
      call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, caller, {}),
      call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, caller, { recompose: true }),
      call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${snapshot}`, caller),
      call('POST', `/v1/parents/${enc(PACKAGING)}/snapshots/${snapshot}/revert`, caller),
    ])
    for (const res of answers) {
      t.equal(res.statusCode, 409, res.body)
      t.equal(res.json().code, 'PARENT_IN_USE')
      t.equal(res.json().details.otherTeamsPools, 1)
      t.notMatch(res.body, /beta-secret-pool|BetaPkg/, 'the other team names nothing')
    }
  }
  const after = await vmNamed(PACKAGING)
  t.equal(after.powerState, 'poweredOn')
  t.same(after.snapshots, before.snapshots)
  t.equal(after.current, before.current)
  const recorded = await call('GET', `/v1/parents/${enc(PACKAGING)}/preparations`, { sub: 'root', scope: 'admin' })
  t.same(recorded.json().preparations, [], 'no preparation recorded')

  // The listing counts every team's clones, names only the caller's pools.
  const alphaView = (await call('GET', `/v1/parents/${enc(PACKAGING)}/snapshots`, ALPHA)).json()
  const betaView = (await call('GET', `/v1/parents/${enc(PACKAGING)}/snapshots`, BETA)).json()
  const current = (view: any) => view.snapshots.find((s: { moref: string }) => s.moref === snapshot)
  t.equal(current(alphaView).liveClones, 1)
  t.same(current(alphaView).pools, [])
  t.same(current(betaView).pools, ['beta-secret-pool'])

  // GraphQL's Parent.clones: the caller's teams' clones only.
  const clonesSeen = async (caller: Caller) => {
    const res = await service.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: service.auth('deployments:read', caller.sub, caller.teams),
      payload: { query: '{ parents { nodes { name clones { nodes { name } } } } }' },
    })
    return res.json().data.parents.nodes.find((p: { name: string }) => p.name === PACKAGING).clones.nodes.map((c: { name: string }) => c.name)
  }
  t.same(await clonesSeen(ALPHA), [])
  t.same(await clonesSeen(BETA), ['BetaPkg01'])

  // The pool's own team is not blocked by it (only by its running clone, as before teams).
  const own = await call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${snapshot}`, BETA)
  t.equal(own.json().code, 'SNAPSHOT_IN_USE', own.body)
  t.same(own.json().details.pools, ['beta-secret-pool'])

  // A parent no other team's pool uses: the same caller may prepare it.
  const free = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, ALPHA, {})
  t.equal(free.statusCode, 202, free.body)
  t.equal(free.json().team, 'alpha')
})
