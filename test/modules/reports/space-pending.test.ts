/**
 * The free-space check counts clones accepted but not yet made: vCenter's free space does not show
 * them until they exist and run, so two deployments that each fit alone must not both be accepted
 * when together they would not. The service runs without workers here, so the first deployment's
 * clones stay accepted and unmade for as long as the test needs.
 */
import t from 'tap'
import { setDatastoreCapacity, startTestService, type TestService } from '../../helpers/service.js'

let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())


const deploy = (count: number, startNumber: number) =>
  service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Capture 1.0', count, startNumber },
  })

t.test('a deployment that fits alone is refused when clones accepted before it would take the space', async (t) => {
  // Free space for about 29 clones of Capture (4.13 GB each: a 0.13 GB delta and a 4 GB swap file).
  const initial = await setDatastoreCapacity(service.sim, 64 * 1024)
  const usedGB = initial.capacityGB - initial.freeGB
  const sized = await setDatastoreCapacity(service.sim, Math.ceil(usedGB + 120))
  t.ok(sized.freeGB >= 120 && sized.freeGB < 121, `free space set to ${sized.freeGB} GB`)

  const first = await deploy(20, 1)
  t.equal(first.statusCode, 202, first.body)

  // 20 more would fit in what vCenter reports free, but not beside the 20 accepted and not yet made.
  const second = await deploy(20, 21)
  t.equal(second.statusCode, 422, second.body)
  const body = second.json()
  t.equal(body.code, 'INSUFFICIENT_SPACE')
  t.equal(body.details.pendingClones, 20, 'the first deployment’s clones are counted')
  t.equal(body.details.reservedGB, 82.6, '20 x 4.13 GB set aside')
  t.equal(body.details.freeGB, Math.round((sized.freeGB - 82.6) * 100) / 100, 'free space less what is set aside')
  t.equal(body.details.requiredGB, 82.6)

  // What is left still takes a smaller deployment.
  const third = await deploy(5, 41)
  t.equal(third.statusCode, 202, third.body)

  const { rows } = await service.app.database.pool.query('SELECT count(*)::int AS n FROM clones')
  t.equal(rows[0].n, 25, 'the refused deployment recorded no clone')
  const stats = await service.sim.stats()
  t.notOk(stats.methods.CloneVM_Task, 'nothing was cloned (no workers run here)')
})
