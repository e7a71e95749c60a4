/**
 * A pool created without startNumber takes the lowest start from which its names are free of VMs
 * and of the numbers other pools of its prefix hold, their VMs made or not: a pool created a moment
 * after another of the same prefix (whose clones do not exist yet: no workers run here) goes after it
 * rather than answering NAME_CONFLICT. A start the caller chose is still checked as before.
 */
import t from 'tap'
import { gql } from '../../helpers/graphql.js'
import { startTestService, type TestService } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'
let service: TestService

t.before(async () => {
  service = await startTestService({ runWorkers: false })
})
t.teardown(() => service?.stop())

const create = (payload: Record<string, unknown>) =>
  service.app.inject({ method: 'POST', url: '/v1/pools', headers: service.auth(), payload: { parent: PARENT, ...payload } })

t.test("the chosen start passes over another pool's numbers before its VMs exist", async (t) => {
  const first = await create({ name: 'wave-one', prefix: 'Wave', size: 3 })
  t.equal(first.statusCode, 202, first.body)
  t.equal(first.json().pool.startNumber, 1, 'a new prefix starts at 1')

  const second = await create({ name: 'wave-two', prefix: 'Wave', size: 2 })
  t.equal(second.statusCode, 202, second.body)
  t.equal(second.json().pool.startNumber, 4, "after wave-one's 1 to 3")

  const planned = await gql(service, `query($input: CreatePoolInput!) { planPool(input: $input) { startNumber startNumberChosen clones { name } } }`, {
    input: { name: 'wave-three', parent: PARENT, prefix: 'wave', size: 2 },
  })
  t.same(planned.body.data?.planPool, { startNumber: 6, startNumberChosen: true, clones: [{ name: 'wave06' }, { name: 'wave07' }] }, 'prefixes meet whatever their case')

  // A number of wave-one's whose clone failed (its VM gone) is still wave-one's to rebuild.
  await service.app.database.pool.query(`UPDATE clones SET status = 'failed' WHERE name = 'Wave02'`)
  const afterFailure = await create({ name: 'wave-five', prefix: 'Wave', size: 1 })
  t.equal(afterFailure.statusCode, 202, afterFailure.body)
  t.equal(afterFailure.json().pool.startNumber, 6, "not wave-one's failed number 2")

  const chosen = await create({ name: 'wave-four', prefix: 'Wave', startNumber: 2, size: 1 })
  t.equal(chosen.statusCode, 409, 'a start the caller chose inside another pool is refused')
  t.equal(chosen.json().code, 'NAME_CONFLICT')
  const { rows } = await service.app.database.pool.query(`SELECT name FROM pools WHERE prefix ILIKE 'wave' ORDER BY start_number`)
  t.same(rows.map((r: { name: string }) => r.name), ['wave-one', 'wave-two', 'wave-five'], 'the refused one recorded nothing')
})
