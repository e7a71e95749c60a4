/** The clone lists' order and cursors (src/domain/clone-order.ts): numbers within a prefix, keys that round-trip. Pure. */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { cloneCursorKey, cloneListKey, compareCloneListKeys, parseCloneCursorKey } from '../../src/domain/clone-order.js'

const row = (namePrefix: string, nameNumber: number | null, name: string, id = randomUUID()) => ({ namePrefix, nameNumber, name, id })

t.test('in memory as in SQL: prefix, then number (none last), then name and id', async (t) => {
  const rows = [
    row('Capture', 10, 'Capture10'),
    row('Capture', null, 'Capture'),
    row('Capture', 2, 'Capture02'),
    row('Beta', 7, 'Beta7'),
    row('Capture', 2, 'Capture2'),
    row('Capture', 1, 'Capture01'),
  ]
  const sorted = [...rows].sort((a, b) => compareCloneListKeys(cloneListKey(a), cloneListKey(b)))
  t.same(sorted.map((r) => r.name), ['Beta7', 'Capture01', 'Capture02', 'Capture2', 'Capture10', 'Capture'])
  const twin = row('Capture', 3, 'Capture03', '00000000-0000-4000-8000-000000000001')
  const later = row('Capture', 3, 'Capture03', '00000000-0000-4000-8000-000000000002')
  t.ok(compareCloneListKeys(cloneListKey(twin), cloneListKey(later)) < 0, 'a failed clone beside the live one of its name: by id')
  t.equal(compareCloneListKeys(cloneListKey(twin), cloneListKey(twin)), 0)
})

t.test("a cursor's key reads back as the row's key; anything else is refused", async (t) => {
  const r = row('Capture', 12, 'Capture12')
  t.same(parseCloneCursorKey(cloneCursorKey(r)), cloneListKey(r))
  const unnumbered = row('Lab', null, 'Lab')
  t.same(parseCloneCursorKey(cloneCursorKey(unnumbered)), cloneListKey(unnumbered))
  t.equal(parseCloneCursorKey(['Capture12', r.id]), undefined, 'the two-part cursors of before')
  t.equal(parseCloneCursorKey(['Capture', 'x', 'Capture12', r.id]), undefined, 'a number that is none')
  t.equal(parseCloneCursorKey(['Other', '12', 'Capture12', r.id]), undefined, 'a name outside its prefix')
  t.equal(parseCloneCursorKey(['Capture', '12', 'Capture12', 'not-an-id']), undefined, 'an id that is none')
})
