/**
 * PARENT_FOLDERS against the lab simulator: a VM outside the configured folders is 404
 * PARENT_NOT_FOUND for every operation (deploy, pool create and recompose, prepare, snapshots,
 * preparations) and missing from the GraphQL listing, and nothing changes in vCenter; a VM in a
 * subfolder of one is a parent as before. The lab keeps every VM in /DC0/vm: the test makes
 * /DC0/vm/Templates/Windows and moves one parent there.
 */
import pg from 'pg'
import t from 'tap'
import { loadConfig, parentFoldersWarning } from '../../../src/config/config.js'
import { VimClient, moRef, type MoRef } from '../../../src/vim25/index.js'
import { gql } from '../../helpers/graphql.js'
import { connectToSimulator, startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const VERIFICATION = 'Tmpl Verification 1.0'

let service: TestService
let vc: VimClient
let vmFolder: MoRef
let db: pg.Client

t.before(async () => {
  service = await startTestService({ env: { PARENT_FOLDERS: '/DC0/vm/Templates, /DC0/vm/Later/' } })
  vc = await connectToSimulator(service.sim)
  db = new pg.Client({ connectionString: service.db.url })
  await db.connect()
  vmFolder = (await vc.property.retrieveOne((await vmNamed(CAPTURE)).ref, ['parent'])).parent as MoRef
  const templates = await createFolder(vmFolder, 'Templates')
  const windows = await createFolder(templates, 'Windows')
  await moveInto(windows, CAPTURE)
})
t.teardown(async () => {
  await vc?.close()
  await db?.end()
  await service?.stop()
})

const enc = encodeURIComponent

function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

async function createFolder(parent: MoRef, name: string): Promise<MoRef> {
  return moRef(await vc.rt.invoke('CreateFolder', { _this: parent, name }))!
}

async function moveInto(folder: MoRef, name: string): Promise<void> {
  const task = moRef(await vc.rt.invoke('MoveIntoFolder_Task', { _this: folder, list: [(await vmNamed(name)).ref] }))!
  await vc.tasks.watch(task)
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

t.test('the warning when PARENT_FOLDERS is unset, and its validation', async (t) => {
  const base = { VCENTER_URL: 'https://vc.example.com/sdk', VCENTER_USERNAME: 'u', VCENTER_PASSWORD: 'p', JWT_SECRET: 'x'.repeat(40) }
  const unset = loadConfig(base)
  t.equal(unset.vcenter.parentFolders, undefined)
  t.match(parentFoldersWarning(unset), /PARENT_FOLDERS is not set: any VM/)
  t.match(parentFoldersWarning(loadConfig({ ...base, PARENT_FOLDERS: '' })), /any VM/, 'empty is unset')
  const set = loadConfig({ ...base, PARENT_FOLDERS: '/DC0/vm/Templates/, /DC1/vm/Gold' })
  t.same(set.vcenter.parentFolders, ['/DC0/vm/Templates', '/DC1/vm/Gold'])
  t.equal(parentFoldersWarning(set), undefined)
  t.throws(() => loadConfig({ ...base, PARENT_FOLDERS: 'DC0/vm' }), /PARENT_FOLDERS must be a comma-separated list of inventory paths/)
  t.throws(() => loadConfig({ ...base, PARENT_FOLDERS: '/DC0//vm' }), /PARENT_FOLDERS/)
})

t.test('a VM outside the folders is PARENT_NOT_FOUND for every operation, and nothing changes in vCenter', async (t) => {
  // Powered on, so that a power-off would show.
  const outside = await vmNamed(PACKAGING)
  if (outside.powerState !== 'poweredOn') await vc.tasks.watch(await vc.powerOnVM(outside.ref))
  const before = await vmNamed(PACKAGING)
  t.ok(before.snapshots.length > 0, 'the lab parent has snapshots')
  const snapshot = before.current!

  const refusals: [string, () => ReturnType<typeof call>][] = [
    ['deploy', () => call('POST', '/v1/deployments', { parent: PACKAGING, prefix: 'Outside', count: 1, startNumber: 1 })],
    ['create a pool', () => call('POST', '/v1/pools', { name: 'outside-pool', parent: PACKAGING, prefix: 'OutPool', startNumber: 1, size: 1 })],
    ['prepare', () => call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, {})],
    ['list snapshots', () => call('GET', `/v1/parents/${enc(PACKAGING)}/snapshots`)],
    ['remove a snapshot', () => call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${snapshot}`)],
    ['revert to a snapshot', () => call('POST', `/v1/parents/${enc(PACKAGING)}/snapshots/${snapshot}/revert`)],
    ['list preparations', () => call('GET', `/v1/parents/${enc(PACKAGING)}/preparations`)],
  ]
  for (const [what, request] of refusals) {
    const res = await request()
    t.equal(res.statusCode, 404, `${what}: ${res.body}`)
    t.equal(res.json().code, 'PARENT_NOT_FOUND', what)
    t.match(res.json().message, /No virtual machine named "Tmpl Packaging 1.0"/, `${what}: as if it did not exist`)
  }
  // Concurrent callers are refused alike.
  const together = await Promise.all(Array.from({ length: 6 }, () => call('POST', `/v1/parents/${enc(PACKAGING)}/prepare`, {})))
  t.same(together.map((r) => r.json().code), Array(6).fill('PARENT_NOT_FOUND'))

  const after = await vmNamed(PACKAGING)
  t.equal(after.powerState, 'poweredOn', 'not powered off')
  t.same(after.snapshots, before.snapshots, 'no snapshot taken or removed')
  t.equal(after.current, before.current, 'not reverted')
  const deployments = await db.query('SELECT count(*)::int AS n FROM deployments')
  const preparations = await db.query('SELECT count(*)::int AS n FROM parent_preparations')
  const pools = await db.query('SELECT count(*)::int AS n FROM pools')
  t.same([deployments.rows[0].n, preparations.rows[0].n, pools.rows[0].n], [0, 0, 0], 'nothing recorded')
})

t.test('a VM in a subfolder of one is a parent: deploy, pools, snapshots, listing; recomposing onto one outside is refused', async (t) => {
  const list = await gql(service, '{ parents { nodes { name } } }', {}, 'deployments:read')
  const names = list.body.data!.parents.nodes.map((p: { name: string }) => p.name)
  t.same(names, [CAPTURE], 'the listing names only the VMs inside the folders')

  const snapshots = await call('GET', `/v1/parents/${enc(CAPTURE)}/snapshots`)
  t.equal(snapshots.statusCode, 200, snapshots.body)

  const pool = await call('POST', '/v1/pools', { name: 'inside-pool', parent: CAPTURE, prefix: 'InPool', startNumber: 1, size: 1 })
  t.equal(pool.statusCode, 202, pool.body)
  const deployment = await waitForDeployment(service, pool.json().deploymentIds[0])
  t.equal(deployment.status, 'succeeded')

  const recompose = await call('POST', '/v1/pools/inside-pool/recompose', { parent: PACKAGING })
  t.equal(recompose.statusCode, 404, recompose.body)
  t.equal(recompose.json().code, 'PARENT_NOT_FOUND')
  const stored = await db.query("SELECT parent_name FROM pools WHERE name = 'inside-pool'")
  t.equal(stored.rows[0].parent_name, CAPTURE, 'the pool still has its parent')
})

t.test('a configured folder made later, and a VM moved into it, are found (the folders are resolved again on a miss)', async (t) => {
  const first = await call('GET', `/v1/parents/${enc(VERIFICATION)}/snapshots`)
  t.equal(first.json().code, 'PARENT_NOT_FOUND')
  const later = await createFolder(vmFolder, 'Later')
  await moveInto(later, VERIFICATION)
  const then = await call('GET', `/v1/parents/${enc(VERIFICATION)}/snapshots`)
  t.equal(then.statusCode, 200, then.body)
  const list = await gql(service, '{ parents { nodes { name } } }', {}, 'deployments:read')
  t.same(list.body.data!.parents.nodes.map((p: { name: string }) => p.name), [CAPTURE, VERIFICATION])
})

t.test("a preparation of a VM moved out of the folders is PARENT_NOT_FOUND", async (t) => {
  const prepare = await call('POST', `/v1/parents/${enc(VERIFICATION)}/prepare`, {})
  t.equal(prepare.statusCode, 202, prepare.body)
  const location = prepare.headers.location as string
  t.equal((await call('GET', location)).statusCode, 200)
  await moveInto(vmFolder, VERIFICATION)
  const gone = await call('GET', location)
  t.equal(gone.statusCode, 404, gone.body)
  t.equal(gone.json().code, 'PARENT_NOT_FOUND')
})
