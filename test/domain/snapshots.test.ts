import t from 'tap'
import {
  defaultSnapshotName,
  findPreparedSnapshot,
  flattenSnapshots,
  invalidSnapshotNameReason,
  parentUse,
  resolveSnapshot,
  withDescendants,
  type SnapshotTreeInput,
} from '../../src/domain/snapshots.js'

t.test('the default snapshot name is the parent and the UTC date', async (t) => {
  t.equal(defaultSnapshotName('Tmpl Capture 1.0', new Date('2026-11-26T23:59:59Z')), 'Tmpl Capture 1.0 2026-11-26')
  t.equal(defaultSnapshotName('Tmpl Capture 1.0', new Date('2026-11-27T00:00:00+01:00')), 'Tmpl Capture 1.0 2026-11-26')
  const long = defaultSnapshotName('x'.repeat(100), new Date('2026-01-02T00:00:00Z'))
  t.equal(long.length, 80, 'within vCenter limit')
  t.ok(long.endsWith(' 2026-01-02'))
})

t.test('snapshot names: refused with a reason', async (t) => {
  t.equal(invalidSnapshotNameReason('Capture 2026-11'), undefined)
  t.match(invalidSnapshotNameReason('  '), /empty/)
  t.match(invalidSnapshotNameReason(' a'), /space/)
  t.match(invalidSnapshotNameReason('a'.repeat(81)), /81 characters/)
  t.match(invalidSnapshotNameReason('a\u0001b'), /control/)
})

const tree: SnapshotTreeInput[] = [
  {
    moref: 's1',
    name: 'Base',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    children: [
      { moref: 's2', name: 'Patched', createdAt: new Date('2026-02-01T00:00:00Z'), children: [] },
      { moref: 's3', name: 'Patched', createdAt: new Date('2026-03-01T00:00:00Z'), children: [{ moref: 's4', name: 'Latest', children: [] }] },
    ],
  },
]

t.test('the tree is flattened depth-first with parents and the current snapshot', async (t) => {
  const nodes = flattenSnapshots(tree, 's3')
  t.same(nodes.map((n) => [n.moref, n.parentMoref, n.depth, n.current]), [
    ['s1', undefined, 0, false],
    ['s2', 's1', 1, false],
    ['s3', 's1', 1, true],
    ['s4', 's3', 2, false],
  ])
  t.equal(nodes[0]!.createdAt, '2026-01-01T00:00:00.000Z')
})

t.test('a snapshot is named by moref, else by a unique name', async (t) => {
  const nodes = flattenSnapshots(tree, 's4')
  t.same(resolveSnapshot(nodes, 's2'), { found: nodes[1] })
  t.same(resolveSnapshot(nodes, 'Base'), { found: nodes[0] })
  t.same(resolveSnapshot(nodes, 'Patched'), { ambiguous: [nodes[1], nodes[2]] })
  t.same(resolveSnapshot(nodes, 'Nope'), { missing: true })
})

t.test("a preparation's snapshot is found again by name, taken since it was accepted", async (t) => {
  const nodes = flattenSnapshots(tree, 's4')
  t.equal(findPreparedSnapshot(nodes, 'Patched', new Date('2026-02-15T00:00:00Z'))?.moref, 's3')
  t.equal(findPreparedSnapshot(nodes, 'Patched', new Date('2026-01-15T00:00:00Z'))?.moref, 's3', 'the latest')
  t.equal(findPreparedSnapshot(nodes, 'Patched', new Date('2026-03-01T00:00:30Z'))?.moref, 's3', 'within the clock skew')
  t.equal(findPreparedSnapshot(nodes, 'Patched', new Date('2026-03-02T00:00:00Z')), undefined, 'older: not ours')
  t.equal(findPreparedSnapshot(nodes, 'Latest', new Date('2026-01-01T00:00:00Z')), undefined, 'no time: not adopted')
})

t.test('running clones of older snapshots keep a parent from being prepared', async (t) => {
  const use = parentUse([
    { name: 'A01', pool: 'a', snapshotMoref: 's1', status: 'ready', powerState: 'poweredOn' },
    { name: 'A02', pool: 'a', snapshotMoref: 's1', status: 'ready', powerState: 'poweredOff' },
    { name: 'B01', pool: 'b', snapshotMoref: 's1', status: 'cloning' },
    { name: 'X01', pool: null, snapshotMoref: 's1', status: 'ready', powerState: 'poweredOn' },
    { name: 'N01', pool: 'n', snapshotMoref: 's9', status: 'ready', powerState: 'poweredOn' },
    { name: 'G01', pool: 'g', snapshotMoref: 's1', status: 'ready', powerState: undefined },
    { name: 'D01', pool: 'd', snapshotMoref: 's1', status: 'destroying', powerState: 'poweredOn' },
  ], 's9')
  t.same(use.running.map((c) => c.name), ['A01', 'B01', 'X01'], 'on, or still being made; not of the target snapshot; not gone; not being destroyed')
  t.same(use.pools, ['a', 'b'])
  t.equal(use.unpooled, 1)
  t.same(parentUse([]), { running: [], pools: [], unpooled: 0 })
})

t.test("a snapshot's descendants: the snapshots its removal would merge under", async (t) => {
  const nodes = flattenSnapshots(tree, 's4')
  t.same([...withDescendants(nodes, 's1')].sort(), ['s1', 's2', 's3', 's4'])
  t.same([...withDescendants(nodes, 's3')].sort(), ['s3', 's4'])
  t.same([...withDescendants(nodes, 's2')], ['s2'])
})
