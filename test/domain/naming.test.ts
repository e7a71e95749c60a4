import t from 'tap'
import { cloneName, invalidVmNameReason, lowestFreeStart, plannedNames, prefixFromParentName } from '../../src/domain/naming.js'

t.test('the prefix is the second word of the parent name, as the seed names clones', async (t) => {
  t.equal(prefixFromParentName('Tmpl Capture 1.0'), 'Capture')
  t.equal(prefixFromParentName('  Tmpl   Packaging   1.0 '), 'Packaging')
  t.equal(prefixFromParentName('Standalone'), undefined)
})

t.test('numbers have at least two digits ({0:0#})', async (t) => {
  t.equal(cloneName('Capture', 1), 'Capture01')
  t.equal(cloneName('Capture', 9), 'Capture09')
  t.equal(cloneName('Capture', 10), 'Capture10')
  t.equal(cloneName('Capture', 100), 'Capture100')
  t.equal(cloneName('Capture', 0), 'Capture00')
})

t.test('planned names run from the start number', async (t) => {
  t.same(plannedNames('Verification', 24, 3), ['Verification24', 'Verification25', 'Verification26'])
  t.equal(plannedNames('X', 1, 500).length, 500)
})

t.test('invalid VM names are explained', async (t) => {
  t.equal(invalidVmNameReason('Capture01'), undefined)
  t.equal(invalidVmNameReason('Ünïcødé 01'), undefined)
  t.match(invalidVmNameReason('x'.repeat(81)), /81 characters/)
  t.equal(invalidVmNameReason('x'.repeat(80)), undefined)
  t.match(invalidVmNameReason('bad\u0007name'), /control characters/)
  t.match(invalidVmNameReason('tab\there'), /control characters/)
  t.match(invalidVmNameReason('a/b'), /escapes/)
  t.match(invalidVmNameReason(' lead'), /white space/)
  t.match(invalidVmNameReason(''), /empty/)
})

t.test('lowestFreeStart: the lowest number from which every requested name is free', async (t) => {
  const capture = Array.from({ length: 25 }, (_, i) => cloneName('Capture', i + 1))
  t.equal(lowestFreeStart('Capture', 25, []), 1, 'a new prefix starts at 1')
  t.equal(lowestFreeStart('Capture', 25, capture), 26, 'after Capture01..Capture25: 26')
  t.equal(lowestFreeStart('Capture', 1, ['Capture01', 'Capture03']), 2, 'a gap wide enough is used')
  t.equal(lowestFreeStart('Capture', 2, ['Capture01', 'Capture03']), 4, 'a gap too narrow is not')
  t.equal(lowestFreeStart('Capture', 3, ['Capture1', 'Capture001', 'CaptureX02', 'Other02', 'capture01']), 1, 'only the names the service would give count')
  t.equal(lowestFreeStart('Capture', 2, ['Capture100', 'Capture99']), 1)
  t.equal(lowestFreeStart('Capture', 2, ['Capture01', 'Capture02', 'Capture100']), 3)
})
