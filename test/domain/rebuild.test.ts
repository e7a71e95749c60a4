import t from 'tap'
import { chooseSnapshot, defaultMaxUnavailable, maxUnavailableFor, selectClones } from '../../src/domain/rebuild.js'
import { countByStatus } from '../../src/domain/progress.js'
import type { ParentFacts } from '../../src/domain/plan.js'

t.test('by default a quarter of the clones are rebuilt at once, at least one', async (t) => {
  t.equal(defaultMaxUnavailable(0), 1)
  t.equal(defaultMaxUnavailable(3), 1)
  t.equal(defaultMaxUnavailable(8), 2)
  t.equal(defaultMaxUnavailable(25), 6)
  t.equal(maxUnavailableFor(undefined, 25), 6)
})

t.test('maxUnavailable: an integer from 1 to 2000, capped at the clones rebuilt', async (t) => {
  t.equal(maxUnavailableFor(2, 10), 2)
  t.equal(maxUnavailableFor(50, 10), 10, 'more than the clones is all of them at once')
  t.equal(maxUnavailableFor(3, 0), 1)
  for (const bad of [0, -1, 1.5, 2001, Number.NaN]) {
    t.throws(() => maxUnavailableFor(bad, 10), { code: 'VALIDATION_FAILED', details: { field: 'maxUnavailable' } }, String(bad))
  }
})

t.test('the clones to rebuild: every live one by number, or a subset of them', async (t) => {
  const live = [
    { name: 'Wave03', number: 3 },
    { name: 'Wave01', number: 1 },
    { name: 'Wave02', number: 2 },
  ]
  t.same(selectClones(live).map((c) => c.number), [1, 2, 3])
  t.same(selectClones(live, ['Wave03', 'Wave01', 'Wave03']).map((c) => c.name), ['Wave01', 'Wave03'])
  t.throws(() => selectClones(live, ['Wave01', 'Wave09', 'Other']), {
    code: 'VALIDATION_FAILED',
    details: { field: 'clones', names: ['Wave09', 'Other'] },
  })
  t.throws(() => selectClones(live, []), { code: 'VALIDATION_FAILED', details: { field: 'clones' } })
  t.same(selectClones([], undefined), [])
})

const parent = (over: Partial<ParentFacts> = {}): ParentFacts => ({
  name: 'Tmpl Capture 1.0',
  moref: 'vm-1',
  folder: 'group-v1',
  attributes: new Map(),
  hasNonPersistentDisk: false,
  currentSnapshot: { moref: 'snapshot-3', name: 'Patched' },
  snapshots: [
    { moref: 'snapshot-2', name: 'Base' },
    { moref: 'snapshot-3', name: 'Patched' },
    { moref: 'snapshot-4', name: 'Twin' },
    { moref: 'snapshot-5', name: 'Twin' },
  ],
  ...over,
})

t.test('the snapshot: recorded moref, requested name, else the current one', async (t) => {
  t.equal(chooseSnapshot(parent()).moref, 'snapshot-3')
  t.equal(chooseSnapshot(parent(), { moref: 'snapshot-2' }).name, 'Base')
  t.equal(chooseSnapshot(parent(), { name: 'Base' }).moref, 'snapshot-2')
  t.throws(() => chooseSnapshot(parent(), { name: 'Nope' }), { code: 'SNAPSHOT_NOT_FOUND', statusCode: 404, details: { snapshot: 'Nope' } })
  t.throws(() => chooseSnapshot(parent(), { moref: 'snapshot-99' }), { code: 'SNAPSHOT_NOT_FOUND' })
  t.throws(() => chooseSnapshot(parent(), { name: 'Twin' }), { code: 'SNAPSHOT_AMBIGUOUS', statusCode: 409, details: { snapshot: 'Twin' } })
  t.equal(chooseSnapshot(parent(), { name: 'snapshot-2' }).name, 'Base', 'a requested name may be a moref, as in the parents routes')
  t.throws(() => chooseSnapshot(parent({ currentSnapshot: undefined, snapshots: [] })), { code: 'SNAPSHOT_MISSING' })
  // Facts read without the tree still know the current snapshot.
  t.equal(chooseSnapshot(parent({ snapshots: undefined }), { moref: 'snapshot-3' }).name, 'Patched')
})

t.test('a replacement waiting for its old clone is counted at its own step', async (t) => {
  const counts = countByStatus(['waiting', 'pending', 'destroying', 'ready'])
  t.equal(counts.waiting, 1)
  t.equal(counts.destroying, 1)
})
