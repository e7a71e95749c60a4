import t from 'tap'
import { contiguousRuns, nextFreeNumbers, numbersToRemove, poolRange, rangesOverlap } from '../../src/domain/pool.js'

t.test('scale up takes the lowest free numbers from the start number', async (t) => {
  t.same(nextFreeNumbers([1, 2, 3], 1, 2), [4, 5])
  t.same(nextFreeNumbers([1, 3, 5], 1, 3), [2, 4, 6])
  t.same(nextFreeNumbers([], 10, 3), [10, 11, 12])
  t.same(nextFreeNumbers([1, 2], 1, 0), [])
})

t.test('new numbers never repeat a live one', async (t) => {
  const live = [4, 7, 8, 9]
  const added = nextFreeNumbers(live, 1, 10)
  t.equal(new Set([...live, ...added]).size, live.length + added.length)
})

t.test('numbers group into contiguous runs, one deployment each', async (t) => {
  t.same(contiguousRuns([4, 5, 6]), [{ startNumber: 4, count: 3 }])
  t.same(contiguousRuns([2, 4, 6, 7]), [
    { startNumber: 2, count: 1 },
    { startNumber: 4, count: 1 },
    { startNumber: 6, count: 2 },
  ])
  t.same(contiguousRuns([]), [])
})

t.test('scale down removes the highest numbers first', async (t) => {
  t.same(numbersToRemove([1, 2, 3, 4, 5], 2), [5, 4])
  t.same(numbersToRemove([3, 1, 10], 1), [10])
  t.same(numbersToRemove([1, 2], 0), [])
  t.same(numbersToRemove([1, 2], 5), [2, 1])
})

t.test('ranges meet on the same prefix (any case) and a shared number', async (t) => {
  const a = poolRange('Capture', 1, 5)
  t.same(a, { prefix: 'Capture', first: 1, last: 5 })
  t.ok(rangesOverlap(a, poolRange('capture', 5, 3)))
  t.notOk(rangesOverlap(a, poolRange('Capture', 6, 3)))
  t.notOk(rangesOverlap(a, poolRange('Packaging', 1, 5)))
  t.same(poolRange('Capture', 1, 2, [1, 2, 9]), { prefix: 'Capture', first: 1, last: 9 }, 'live clones beyond the size count')
})
