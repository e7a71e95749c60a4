/**
 * Proving each clone is linked: after CloneVM_Task the service reads the clone's disks and follows
 * their backing chains to the deployment's snapshot. The lab makes vCenter misbehave for one parent
 * (full copies, or clones onto another snapshot), so that the check can fail.
 */
import t from 'tap'
import { VimClient, type MoRef } from '../../../src/vim25/index.js'
import { gql } from '../../helpers/graphql.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

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

const deploy = async (payload: Record<string, unknown>) => {
  const res = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth(), payload })
  if (res.statusCode !== 202) throw new Error(res.body)
  return waitForDeployment(service, res.json().id)
}
const get = (url: string) => service.app.inject({ method: 'GET', url, headers: service.auth('deployments:read') }).then((r) => r.json())

t.test('linked clones are proven linked', async (t) => {
  const done = await deploy({ parent: 'Tmpl Capture 1.0', count: 2, startNumber: 1 })
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.same(done.warnings, [])
  t.same(done.clones.map((c: { linked: boolean }) => c.linked), [true, true])
  t.equal((await get('/v1/clones/Capture01')).linked, true)
})

t.test('a silent full clone is flagged, warned of once, and counted as full', async (t) => {
  await service.sim.setCloneDisks('Tmpl Packaging 1.0', 'full')
  t.teardown(() => service.sim.setCloneDisks('Tmpl Packaging 1.0', 'linked'))
  const done = await deploy({ parent: 'Tmpl Packaging 1.0', count: 3, startNumber: 1 })
  t.equal(done.status, 'succeeded', 'a full copy works; it only takes more space')
  t.same(done.clones.map((c: { linked: boolean }) => c.linked), [false, false, false])
  const warnings = done.warnings.filter((w: { code: string }) => w.code === 'SILENT_FULL_CLONE')
  t.equal(warnings.length, 1, 'one warning for the deployment, however many clones')
  t.equal((await get('/v1/clones/Packaging02')).linked, false)

  const res = await gql(service, `{ deployment(id: "${done.id}") { clones { name linked } warnings { code } } }`)
  t.same(res.body.data?.deployment.clones.map((c: { linked: boolean }) => c.linked), [false, false, false])
  t.ok(res.body.data?.deployment.warnings.some((w: { code: string }) => w.code === 'SILENT_FULL_CLONE'))

  const report = (await service.app.inject({ method: 'GET', url: '/v1/reports/space', headers: service.auth('deployments:read') })).json()
  const packaging = report.parents.find((p: { name: string }) => p.name === 'Tmpl Packaging 1.0')
  const capture = report.parents.find((p: { name: string }) => p.name === 'Tmpl Capture 1.0')
  t.equal(packaging.fullClones, 3)
  t.equal(capture.fullClones, 0)
  // Three full copies take at least the parent's used space each, on top of the parent's.
  t.ok(packaging.linkedGB >= packaging.usedGB * 4 - 0.01, `full copies counted in full: ${packaging.linkedGB} GB for used ${packaging.usedGB} GB`)
})

t.test('a clone backing onto another snapshot than planned fails', async (t) => {
  const [parent] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])).filter(
    (o) => o.props.name === 'Tmpl Verification 1.0',
  )
  await vc.tasks.watch(await vc.createSnapshot(parent!.obj as MoRef, 'Later'))
  await service.sim.setCloneDisks('Tmpl Verification 1.0', 'other-snapshot')
  t.teardown(() => service.sim.setCloneDisks('Tmpl Verification 1.0', 'linked'))
  const done = await deploy({ parent: 'Tmpl Verification 1.0', count: 1, startNumber: 1, snapshot: 'Later' })
  t.equal(done.status, 'failed')
  const [clone] = done.clones
  t.equal(clone.status, 'failed')
  t.equal(clone.error.code, 'CLONE_NOT_FROM_SNAPSHOT')
  t.match(clone.error.message, /Later/)
})
