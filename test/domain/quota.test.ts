import t from 'tap'
import { NO_QUOTA, checkQuota, provisionedGBPerClone, quotaExcess } from '../../src/domain/quota.js'
import { CLONE_DELTA_ESTIMATE_GB } from '../../src/domain/space.js'

t.test('a clone counts its delta estimate plus a swap file of its parent memory', async (t) => {
  t.equal(provisionedGBPerClone(), CLONE_DELTA_ESTIMATE_GB, 'without the memory: the delta alone')
  t.equal(provisionedGBPerClone(4096), 4.13)
  t.equal(provisionedGBPerClone(512, 0.2), 0.7)
})

t.test('no quota, or a null limit, never refuses', async (t) => {
  t.equal(quotaExcess(NO_QUOTA, { clones: 1e6, provisionedGB: 1e9 }, { clones: 500, provisionedGB: 5000 }), undefined)
  t.equal(quotaExcess({ maxClones: null, maxProvisionedGB: 10 }, { clones: 1e6, provisionedGB: 5 }, { clones: 1, provisionedGB: 5 }), undefined)
})

t.test('clones: up to the limit fits, one more does not', async (t) => {
  const quota = { maxClones: 10, maxProvisionedGB: null }
  t.equal(quotaExcess(quota, { clones: 7, provisionedGB: 0 }, { clones: 3, provisionedGB: 0 }), undefined)
  t.same(quotaExcess(quota, { clones: 7, provisionedGB: 0 }, { clones: 4, provisionedGB: 0 }), { limit: 10, used: 7, requested: 4, unit: 'clones' })
  t.same(quotaExcess({ maxClones: 0, maxProvisionedGB: null }, { clones: 0, provisionedGB: 0 }, { clones: 1, provisionedGB: 0 }), {
    limit: 0, used: 0, requested: 1, unit: 'clones',
  })
})

t.test('GB: compared in 0.01 GB, without binary noise', async (t) => {
  const quota = { maxClones: null, maxProvisionedGB: 0.3 }
  // 0.1 + 0.2 is 0.30000000000000004 in binary floating point: still within 0.3.
  t.equal(quotaExcess(quota, { clones: 1, provisionedGB: 0.1 }, { clones: 1, provisionedGB: 0.2 }), undefined)
  t.same(quotaExcess(quota, { clones: 1, provisionedGB: 0.1 }, { clones: 1, provisionedGB: 0.21 }), { limit: 0.3, used: 0.1, requested: 0.21, unit: 'GB' })
})

t.test('the clone limit is reported first when both are passed', async (t) => {
  const excess = quotaExcess({ maxClones: 1, maxProvisionedGB: 1 }, { clones: 1, provisionedGB: 1 }, { clones: 1, provisionedGB: 1 })
  t.equal(excess?.unit, 'clones')
})

t.test('checkQuota: 422 QUOTA_EXCEEDED with the figures', async (t) => {
  t.doesNotThrow(() => checkQuota('alpha', { maxClones: 2, maxProvisionedGB: null }, { clones: 1, provisionedGB: 0 }, { clones: 1, provisionedGB: 0 }))
  try {
    checkQuota('alpha', { maxClones: 2, maxProvisionedGB: null }, { clones: 1, provisionedGB: 0.5 }, { clones: 2, provisionedGB: 1 })
    t.fail('should refuse')
  } catch (err: any) {
    t.equal(err.code, 'QUOTA_EXCEEDED')
    t.equal(err.statusCode, 422)
    t.same(err.details, { team: 'alpha', limit: 2, used: 1, requested: 2, unit: 'clones' })
    t.match(err.message, /"alpha".*1 live clones in use and 2 requested, over its limit of 2/)
  }
})
