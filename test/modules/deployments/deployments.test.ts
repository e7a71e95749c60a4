/**
 * The seed's deployment end to end through the HTTP API, against the lab simulator and a real
 * PostgreSQL: the clones exist in vCenter with our instance UUIDs and the parent's attributes, and
 * the records say where each came from.
 */
import t from 'tap'
import { VimClient, decodeCustomFieldValues, type MoRef } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PROJECT = `Training 2010 <&>'" Ünïcødé`

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

/** Every VM in the simulator by name, with what the test checks. */
async function vmsByName() {
  const fields = new Map((await vc.customFieldDefs()).map((d) => [d.key, d.name]))
  const vms = await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', [
    'name',
    'config.instanceUuid',
    'runtime.powerState',
    'customValue',
    'guest.hostName',
  ])
  return new Map(
    vms.map((o) => [
      String(o.props.name),
      {
        ref: o.obj as MoRef,
        instanceUuid: o.props['config.instanceUuid'] as string,
        powerState: o.props['runtime.powerState'] as string,
        hostName: o.props['guest.hostName'] as string | undefined,
        attributes: new Map(decodeCustomFieldValues(o.props.customValue).map((v) => [fields.get(v.key)!, v.value])),
      },
    ]),
  )
}

t.test('deploys linked clones of the parent, customized, powered on, with its attributes', async (t) => {
  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write deployments:read', 'portal-user'),
    payload: { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1, ticket: 'RITM0012345' },
  })
  t.equal(post.statusCode, 202, post.body)
  const accepted = post.json()
  t.equal(accepted.status, 'queued')
  t.equal(post.headers.location, `/v1/deployments/${accepted.id}`)
  t.same(accepted.clones.map((c: any) => c.name), ['Capture01', 'Capture02', 'Capture03'])
  t.same(accepted.warnings, [])

  const done = await waitForDeployment(service, accepted.id)
  t.equal(done.status, 'succeeded', JSON.stringify(done.error))
  t.equal(done.requester, 'portal-user')
  t.equal(done.ticket, 'RITM0012345')
  t.same(done.parent.name, 'Tmpl Capture 1.0')
  t.equal(done.snapshot.name, 'Base')
  t.equal(done.customizationSpec, 'Capture')
  t.ok(done.startedAt && done.finishedAt, 'start and finish recorded')
  t.type(done.durationSeconds, 'number')
  t.match(done.progress, { total: 3, done: 3, failed: 0, byStatus: { ready: 3 }, estimatedSecondsLeft: 0 })

  const vms = await vmsByName()
  for (const clone of done.clones) {
    t.equal(clone.status, 'ready', clone.name)
    const inVcenter = vms.get(clone.name)
    t.ok(inVcenter, `${clone.name} exists in vCenter`)
    t.equal(inVcenter!.ref.value, clone.moref, 'the recorded moref is the VM')
    t.equal(inVcenter!.instanceUuid, clone.instanceUuid, 'the VM has the instance UUID chosen before cloning')
    t.equal(inVcenter!.powerState, 'poweredOn')
    // The simulator applies the spec at power-on: the guest takes the clone's name as its host name.
    t.match(inVcenter!.hostName, new RegExp(`^${clone.name}`), 'the customization spec was applied')
    t.equal(inVcenter!.attributes.get('Project'), PROJECT, 'values with <&>\'" and non-ASCII arrive exactly')
    t.equal(inVcenter!.attributes.get('Template'), 'Tmpl Capture 1.0')
    t.equal(inVcenter!.attributes.get('Customisation'), 'Capture')
    t.equal(inVcenter!.attributes.get('Logon Administrator Password'), 'S3cret<&>')
  }
})

t.test('a clone shows its provenance; passwords need secrets:read', async (t) => {
  const res = await service.app.inject({ url: '/v1/clones/Capture02', headers: service.auth('deployments:read') })
  t.equal(res.statusCode, 200, res.body)
  const clone = res.json()
  t.equal(clone.name, 'Capture02')
  t.equal(clone.status, 'ready')
  t.equal(clone.requester, 'portal-user')
  t.equal(clone.ticket, 'RITM0012345')
  t.equal(clone.parent.name, 'Tmpl Capture 1.0')
  t.match(clone.parent.moref, /^vm-/)
  t.equal(clone.snapshot.name, 'Base')
  t.match(clone.snapshot.moref, /^snapshot-/)
  const attrs = new Map(clone.attributes.map((a: any) => [a.name, a.value]))
  t.equal(attrs.get('Project'), PROJECT)
  t.equal(attrs.get('Template'), 'Tmpl Capture 1.0')
  t.equal(attrs.get('Logon Administrator Password'), '***')
  t.equal(attrs.get('Logon User Password'), '***')
  t.equal(attrs.size, 11, "the seed's ten and Template")

  const secret = await service.app.inject({ url: '/v1/clones/Capture02', headers: service.auth('deployments:read secrets:read') })
  t.equal(new Map(secret.json().attributes.map((a: any) => [a.name, a.value])).get('Logon Administrator Password'), 'S3cret<&>')

  const list = await service.app.inject({ url: '/v1/clones?prefix=Capture', headers: service.auth('deployments:read') })
  t.same(list.json().clones.map((c: any) => c.name), ['Capture01', 'Capture02', 'Capture03'])
  const none = await service.app.inject({ url: '/v1/clones?prefix=Nothing', headers: service.auth('deployments:read') })
  t.same(none.json().clones, [])

  const missing = await service.app.inject({ url: '/v1/clones/Nope01', headers: service.auth('deployments:read') })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'CLONE_NOT_FOUND')
})

t.test('a parent with an independent-nonpersistent disk deploys with a warning', async (t) => {
  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Kiosk 1.0', count: 2, startNumber: 1 },
  })
  t.equal(post.statusCode, 202, post.body)
  t.same(post.json().warnings.map((w: any) => w.code), ['PARENT_HAS_NONPERSISTENT_DISK'])
  const done = await waitForDeployment(service, post.json().id)
  t.equal(done.status, 'succeeded')
  t.same(done.warnings.map((w: any) => w.code), ['PARENT_HAS_NONPERSISTENT_DISK'])
})

t.test('prefix, attribute list and start number from the request are used', async (t) => {
  const post = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Packaging 1.0', count: 2, startNumber: 9, prefix: 'Pkg', attributes: ['Project', 'Role'] },
  })
  t.equal(post.statusCode, 202, post.body)
  const done = await waitForDeployment(service, post.json().id)
  t.same(done.clones.map((c: any) => c.name), ['Pkg09', 'Pkg10'])
  const clone = (await service.app.inject({ url: '/v1/clones/Pkg10', headers: service.auth('deployments:read') })).json()
  t.same(clone.attributes, [
    { name: 'Project', value: PROJECT },
    { name: 'Role', value: 'Packaging' },
    { name: 'Template', value: 'Tmpl Packaging 1.0' },
  ])
})
