import t from 'tap'
import { poolRecomposer } from '../../src/plugins/app/parents.js'
import { PoolService } from '../../src/services/pool-service.js'

t.test('recompose is wired to PoolService.recompose when the pool service has it', async (t) => {
  const hasIt = typeof (PoolService.prototype as unknown as { recompose?: unknown }).recompose === 'function'
  const fromService = poolRecomposer(Object.create(PoolService.prototype))
  t.equal(fromService !== undefined, hasIt, hasIt ? 'wired' : 'not yet: recompose: true is refused (RECOMPOSE_UNAVAILABLE)')

  const calls: unknown[] = []
  const pools = {
    name: 'the pool service',
    async recompose(this: { name: string }, name: string, request: object, requester: string) {
      calls.push([this.name, name, request, requester])
      return { pool: {} as never, deploymentIds: ['d1'] }
    },
  }
  const wired = poolRecomposer(pools)!
  t.same(await wired.recompose('wave1', { snapshot: 'S', parent: 'P' }, 'alice'), { pool: {}, deploymentIds: ['d1'] })
  t.same(calls, [['the pool service', 'wave1', { snapshot: 'S', parent: 'P' }, 'alice']], 'called on the service itself')
  t.equal(poolRecomposer({}), undefined)
})
