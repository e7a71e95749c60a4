/**
 * Choosing the snapshot: `snapshot` (a moref or a name) on POST /v1/deployments, POST /v1/pools and
 * GraphQL, resolved as a recompose resolves it; refusals change nothing; the clones really come from
 * the chosen snapshot (their disks back onto its disk in the lab).
 */
import t from 'tap'
import { VimClient, type MoRef } from '../../../src/vim25/index.js'
import { gql } from '../../helpers/graphql.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Verification 1.0'

let service: TestService
let vc: VimClient
const snaps: Record<string, MoRef> = {}

t.before(async () => {
  service = await startTestService()
  vc = await connectToSimulator(service.sim)
  const [parent] = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name', 'snapshot']).then((all) =>
    all.filter((o) => o.props.name === PARENT),
  )
  snaps.Base = ((parent!.props.snapshot as { currentSnapshot: MoRef }).currentSnapshot)
  // Two snapshots named Twin, then Second: the parent's current snapshot.
  snaps.Twin1 = (await vc.tasks.watch(await vc.createSnapshot(parent!.obj as MoRef, 'Twin'))).result as MoRef
  snaps.Twin2 = (await vc.tasks.watch(await vc.createSnapshot(parent!.obj as MoRef, 'Twin'))).result as MoRef
  snaps.Second = (await vc.tasks.watch(await vc.createSnapshot(parent!.obj as MoRef, 'Second'))).result as MoRef
})
t.teardown(async () => {
  await vc?.close()
  await service?.stop()
})

const post = (url: string, payload: Record<string, unknown>) =>
  service.app.inject({ method: 'POST', url, headers: service.auth('deployments:write deployments:read'), payload })

const deploymentBody = (extra: Record<string, unknown>) => ({ parent: PARENT, count: 2, startNumber: 1, prefix: 'Chosen', ...extra })

/** The file of the snapshot's (only) disk, as vCenter shows it. */
async function snapshotDiskFile(snapshot: MoRef): Promise<string> {
  const props = await vc.property.retrieveOne(snapshot, ['config.hardware.device'])
  const devices = props['config.hardware.device'] as { _type: string; backing?: { fileName?: string } }[]
  return devices.find((d) => d._type === 'VirtualDisk')!.backing!.fileName!
}

async function cloneDiskParentFile(moref: string): Promise<string | undefined> {
  const props = await vc.property.retrieveOne({ type: 'VirtualMachine', value: moref }, ['config.hardware.device'])
  const devices = props['config.hardware.device'] as { _type: string; backing?: { parent?: { fileName?: string } } }[]
  return devices.find((d) => d._type === 'VirtualDisk')!.backing?.parent?.fileName
}

t.test('the dry run shows the chosen snapshot and when it was taken', async (t) => {
  const byDefault = await post('/v1/deployments', deploymentBody({ dryRun: true }))
  t.equal(byDefault.statusCode, 200, byDefault.body)
  t.match(byDefault.json().snapshot, { name: 'Second', moref: snaps.Second!.value })

  const byName = await post('/v1/deployments', deploymentBody({ dryRun: true, snapshot: 'Base' }))
  t.equal(byName.statusCode, 200, byName.body)
  const plan = byName.json()
  t.match(plan.snapshot, { name: 'Base', moref: snaps.Base!.value })
  t.ok(!Number.isNaN(Date.parse(plan.snapshot.createdAt)), `creation time ${plan.snapshot.createdAt}`)

  const byMoref = await post('/v1/deployments', deploymentBody({ dryRun: true, snapshot: snaps.Twin2!.value }))
  t.equal(byMoref.statusCode, 200, byMoref.body)
  t.match(byMoref.json().snapshot, { name: 'Twin', moref: snaps.Twin2!.value })
})

t.test('an unknown or ambiguous snapshot is refused and nothing is recorded', async (t) => {
  const missing = await post('/v1/deployments', deploymentBody({ snapshot: 'No such snapshot' }))
  t.equal(missing.statusCode, 404, missing.body)
  t.equal(missing.json().code, 'SNAPSHOT_NOT_FOUND')

  const ambiguous = await post('/v1/deployments', deploymentBody({ snapshot: 'Twin' }))
  t.equal(ambiguous.statusCode, 409, ambiguous.body)
  const error = ambiguous.json()
  t.equal(error.code, 'SNAPSHOT_AMBIGUOUS')
  t.same(
    error.details.candidates.map((c: { moref: string }) => c.moref).sort(),
    [snaps.Twin1!.value, snaps.Twin2!.value].sort(),
    'the details list both candidates',
  )
  t.ok(error.details.candidates.every((c: { name: string; createdAt: string }) => c.name === 'Twin' && c.createdAt))

  const pool = await post('/v1/pools', { name: 'twins', parent: PARENT, prefix: 'Twins', startNumber: 1, size: 1, snapshot: 'Twin' })
  t.equal(pool.statusCode, 409, pool.body)
  t.equal(pool.json().code, 'SNAPSHOT_AMBIGUOUS')
  const none = await service.app.inject({ method: 'GET', url: '/v1/pools/twins', headers: service.auth('deployments:read') })
  t.equal(none.statusCode, 404, 'no pool recorded')
  const empty = await post('/v1/deployments', deploymentBody({ snapshot: '' }))
  t.equal(empty.statusCode, 400, 'an empty snapshot is a validation error')
  const names = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])).map((o) => String(o.props.name))
  t.notOk(names.some((n) => n.startsWith('Chosen') || n.startsWith('Twins')), 'nothing made in vCenter')
})

t.test('the clones come from the chosen snapshot, and their provenance says so', async (t) => {
  const accepted = await post('/v1/deployments', deploymentBody({ snapshot: 'Base' }))
  t.equal(accepted.statusCode, 202, accepted.body)
  const done = await waitForDeployment(service, accepted.json().id)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.match(done.snapshot, { name: 'Base', moref: snaps.Base!.value })
  t.ok(done.snapshot.createdAt)
  const baseFile = await snapshotDiskFile(snaps.Base!)
  for (const clone of done.clones) {
    t.equal(await cloneDiskParentFile(clone.moref), baseFile, `${clone.name} backs onto Base's disk`)
    const provenance = await service.app.inject({ method: 'GET', url: `/v1/clones/${clone.name}`, headers: service.auth('deployments:read') })
    t.match(provenance.json().provenance.snapshot, { name: 'Base', moref: snaps.Base!.value })
    t.ok(provenance.json().provenance.snapshot.createdAt, 'provenance records when the snapshot was taken')
  }
})

t.test('a pool takes a snapshot by moref and keeps to it', async (t) => {
  const created = await post('/v1/pools', { name: 'twin-pool', parent: PARENT, prefix: 'TwinPool', startNumber: 1, size: 1, snapshot: snaps.Twin1!.value })
  t.equal(created.statusCode, 202, created.body)
  const pool = await service.app.inject({ method: 'GET', url: '/v1/pools/twin-pool', headers: service.auth('deployments:read') })
  t.match(JSON.stringify(pool.json()), snaps.Twin1!.value, 'the pool records the chosen snapshot')
  const deploymentId = String(created.headers.location).split('/').pop()!
  const done = await waitForDeployment(service, deploymentId)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(await cloneDiskParentFile(done.clones[0].moref), await snapshotDiskFile(snaps.Twin1!))
})

t.test('GraphQL takes the snapshot too', async (t) => {
  const res = await gql(
    service,
    `query ($input: DeployLinkedClonesInput!) { planLinkedClones(input: $input) { snapshot { name moref createdAt } } }`,
    { input: { parent: PARENT, count: 1, startNumber: 50, prefix: 'Gql', snapshot: 'Base' } },
  )
  t.equal(res.body.errors, undefined, JSON.stringify(res.body.errors))
  t.match(res.body.data?.planLinkedClones.snapshot, { name: 'Base', moref: snaps.Base!.value })
  t.ok(res.body.data?.planLinkedClones.snapshot.createdAt)

  const ambiguous = await gql(
    service,
    `mutation ($input: DeployLinkedClonesInput!) { deployLinkedClones(input: $input) { id } }`,
    { input: { parent: PARENT, count: 1, startNumber: 50, prefix: 'Gql', snapshot: 'Twin' } },
  )
  t.equal(ambiguous.body.errors?.[0]?.extensions?.code, 'SNAPSHOT_AMBIGUOUS')
})
