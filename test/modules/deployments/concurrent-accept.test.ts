/**
 * Accepting deployments under concurrency: identical requests at once make one deployment and refuse
 * the rest with 409 NAME_CONFLICT (never a 500 from the live-name index); a deployment asked for while
 * a snapshot of its parent is being removed is refused with 409 PARENT_BUSY rather than accepted and
 * left to fail on vCenter's fault.
 */
import t from 'tap'
import type { MoRef } from '../../../src/vim25/index.js'
import { connectToSimulator, startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const CAPTURE = 'Tmpl Capture 1.0'
const PACKAGING = 'Tmpl Packaging 1.0'
const enc = encodeURIComponent

let service: TestService

t.before(async () => {
  // A slow snapshot removal, so that a deployment can arrive while it runs.
  service = await startTestService({ simulator: { delays: { RemoveSnapshot_Task: 2000 } } })
})
t.teardown(async () => {
  await service?.stop()
})

function call(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

t.test('20 identical deployments at once: one accepted, the others 409 NAME_CONFLICT', async (t) => {
  const request = { parent: CAPTURE, prefix: 'Twenty', count: 2, startNumber: 1 }
  const answers = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/v1/deployments', request)))
  const statuses = answers.map((r) => r.statusCode).sort()
  t.equal(answers.filter((r) => r.statusCode === 202).length, 1, `one accepted (${statuses.join(' ')})`)
  const refused = answers.filter((r) => r.statusCode !== 202)
  t.equal(refused.length, 19)
  for (const res of refused) {
    t.equal(res.statusCode, 409, res.body)
    t.equal(res.json().code, 'NAME_CONFLICT')
    t.ok(res.json().details.names.length > 0, 'the names are listed')
    t.ok(res.json().details.names.every((n: string) => ['Twenty01', 'Twenty02'].includes(n)))
  }
  const accepted = answers.find((r) => r.statusCode === 202)!
  t.equal((await waitForDeployment(service, accepted.json().id)).status, 'succeeded')
  const listed = (await call('GET', '/v1/clones?prefix=Twenty', undefined, 'deployments:read')).json()
  const clones = listed.clones as { name: string }[]
  t.same(clones.map((c) => c.name).sort(), ['Twenty01', 'Twenty02'], 'one set of clones recorded')
})

t.test('a deployment asked for while a snapshot of its parent is removed: 409 PARENT_BUSY', async (t) => {
  // A second snapshot taken behind the service's back, so that the first (Base) is neither current nor used.
  const vc = await connectToSimulator(service.sim)
  try {
    const [parent] = (await vc.property.listByType(vc.serviceContent.rootFolder, 'VirtualMachine', ['name'])).filter((o) => o.props.name === PACKAGING)
    await vc.tasks.watch(await vc.createSnapshot(parent!.obj as MoRef, 'Packaging next'))
  } finally {
    await vc.close()
  }
  const listed = (await call('GET', `/v1/parents/${enc(PACKAGING)}/snapshots`, undefined, 'deployments:read')).json()
  const removable = listed.snapshots.find((s: { current: boolean; liveClones: number }) => !s.current && s.liveClones === 0)
  t.ok(removable, 'a snapshot not current and unused')
  const removal = call('DELETE', `/v1/parents/${enc(PACKAGING)}/snapshots/${removable.moref}`)
  // The removal's task is under way (the simulator holds it for 2 s).
  await new Promise((r) => setTimeout(r, 700))
  const during = await call('POST', '/v1/deployments', { parent: PACKAGING, prefix: 'During', count: 1, startNumber: 1 })
  t.equal(during.statusCode, 409, during.body)
  t.equal(during.json().code, 'PARENT_BUSY')
  const removed = await removal
  t.equal(removed.statusCode, 200, removed.body)
  // Once the removal is over, the same deployment is accepted and succeeds.
  const after = await call('POST', '/v1/deployments', { parent: PACKAGING, prefix: 'During', count: 1, startNumber: 1 })
  t.equal(after.statusCode, 202, after.body)
  t.equal((await waitForDeployment(service, after.json().id)).status, 'succeeded')
})
