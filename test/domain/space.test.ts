import t from 'tap'
import {
  BYTES_PER_GB,
  checkDatastoreSpace,
  checkSpaceGroups,
  forecastSpace,
  measuredGroupSpace,
  requiredSpaceGB,
  roundGB,
} from '../../src/domain/space.js'

const SEED = [
  { name: 'Capture', count: 25, provisionedGB: 11, usedGB: 3.34, deltaGB: 0.13 },
  { name: 'Packaging', count: 25, provisionedGB: 8, usedGB: 3.72, deltaGB: 0.13 },
  { name: 'Verification', count: 25, provisionedGB: 8, usedGB: 2.49, deltaGB: 0.13 },
]

t.test("the seed's three groups give 675, 238.75 and 19.3 GB", async (t) => {
  const forecast = forecastSpace(SEED)
  t.same(
    forecast.groups.map((g) => [g.name, g.traditionalGB, g.thinGB, g.linkedGB]),
    [
      ['Capture', 275, 83.5, 6.59],
      ['Packaging', 200, 93, 6.97],
      ['Verification', 200, 62.25, 5.74],
    ],
  )
  t.equal(forecast.total.count, 75)
  t.equal(forecast.total.traditionalGB, 675)
  t.equal(forecast.total.thinGB, 238.75)
  t.equal(forecast.total.linkedGB, 19.3, 'not 19.299999999999997')
  t.same(forecast.total.savings, {
    versusTraditional: { gb: 655.7, percent: 97.1 },
    versusThin: { gb: 219.45, percent: 91.9 },
  })
  t.same(forecast.groups[0]!.savings.versusTraditional, { gb: 268.41, percent: 97.6 })
})

t.test('rounding is decimal, to 0.01 GB', async (t) => {
  t.equal(roundGB(0.1 + 0.2), 0.3)
  t.equal(roundGB(1.005), 1.01)
  t.equal(roundGB(3.34 + 25 * 0.13), 6.59)
  t.equal(roundGB(0), 0)
})

t.test('no clones: nothing but the parent, no division by zero', async (t) => {
  const [g] = forecastSpace([{ name: 'Empty', count: 0, provisionedGB: 8, usedGB: 2, deltaGB: 0.1 }]).groups
  t.same([g!.traditionalGB, g!.thinGB, g!.linkedGB], [0, 0, 2])
  t.same(g!.savings.versusTraditional, { gb: -2, percent: 0 })
})

t.test('impossible groups are refused with the field named', async (t) => {
  t.throws(() => checkSpaceGroups([{ ...SEED[0]!, usedGB: 12 }]), { code: 'VALIDATION_FAILED', message: /\/groups\/0\/usedGB \(12\) is more than provisionedGB/ })
  t.throws(() => checkSpaceGroups([SEED[0]!, { ...SEED[1]!, deltaGB: 9 }]), { message: /\/groups\/1\/deltaGB/ })
  t.throws(() => checkSpaceGroups([SEED[0]!, SEED[0]!]), { message: /"Capture" is given twice/ })
  t.doesNotThrow(() => checkSpaceGroups(SEED))
})

t.test('measured figures: sums in bytes, the parent counted once', async (t) => {
  const gb = (x: number) => Math.round(x * BYTES_PER_GB)
  const clones = Array.from({ length: 25 }, () => ({ capacityBytes: 11 * BYTES_PER_GB, unsharedBytes: gb(0.13) }))
  const g = measuredGroupSpace({ name: 'Tmpl Capture 1.0', parentUsedBytes: gb(3.34), clones })
  t.same(
    { count: g.count, provisionedGB: g.provisionedGB, usedGB: g.usedGB, deltaGB: g.deltaGB, t: g.traditionalGB, thin: g.thinGB, linked: g.linkedGB },
    { count: 25, provisionedGB: 11, usedGB: 3.34, deltaGB: 0.13, t: 275, thin: 83.5, linked: 6.59 },
  )
  const none = measuredGroupSpace({ name: 'x', parentUsedBytes: gb(2), clones: [] })
  t.same([none.count, none.provisionedGB, none.deltaGB, none.linkedGB], [0, 0, 0, 2])
})

t.test('a deployment needs each clone its delta and a swap file; too much is INSUFFICIENT_SPACE', async (t) => {
  t.equal(requiredSpaceGB({ count: 25, memoryMB: 4096 }), 103.25)
  t.equal(requiredSpaceGB({ count: 10, memoryMB: 0, deltaGB: 0.5 }), 5)
  const datastore = { moref: 'datastore-1', name: 'LocalDS_0', capacityBytes: 100 * BYTES_PER_GB, freeSpaceBytes: 50 * BYTES_PER_GB }
  t.doesNotThrow(() => checkDatastoreSpace(datastore, { count: 12, memoryMB: 4096 }), '12 x 4.13 = 49.56 fits in 50')
  const err = t.throws(() => checkDatastoreSpace(datastore, { count: 13, memoryMB: 4096 })) as any
  t.equal(err.code, 'INSUFFICIENT_SPACE')
  t.equal(err.statusCode, 422)
  t.match(err.message, /"LocalDS_0" has 50 GB free; 13 linked clones need about 53.69 GB/)
  t.same(err.details, { datastore: 'LocalDS_0', datastoreMoref: 'datastore-1', freeGB: 50, requiredGB: 53.69, count: 13, perCloneGB: 4.13 })
})

t.test('clones accepted and not yet powered on are set aside from the free space', async (t) => {
  const datastore = { moref: 'datastore-1', name: 'LocalDS_0', capacityBytes: 100 * BYTES_PER_GB, freeSpaceBytes: 50 * BYTES_PER_GB }
  t.doesNotThrow(() => checkDatastoreSpace(datastore, { count: 6, memoryMB: 4096, pendingClones: 6 }), '2 x 6 x 4.13 = 49.56 fits in 50')
  const err = t.throws(() => checkDatastoreSpace(datastore, { count: 6, memoryMB: 4096, pendingClones: 7 })) as any
  t.equal(err.code, 'INSUFFICIENT_SPACE')
  t.same(err.details, {
    datastore: 'LocalDS_0',
    datastoreMoref: 'datastore-1',
    freeGB: 21.09,
    requiredGB: 24.78,
    count: 6,
    perCloneGB: 4.13,
    pendingClones: 7,
    reservedGB: 28.91,
  })
})
