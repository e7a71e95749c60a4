import t from 'tap'
import { linkedVerdict, silentFullCloneWarning } from '../../src/domain/linked.js'
import { measuredGroupSpace } from '../../src/domain/space.js'

const BASE = '[ds] Tmpl/Tmpl.vmdk'
const LATER = '[ds] Tmpl/Tmpl-000001.vmdk'

t.test('a disk whose chain reaches a file of the snapshot is linked', async (t) => {
  t.same(linkedVerdict([{ label: 'Hard disk 1', files: ['[ds] C1/C1.vmdk', BASE] }], [BASE]), { kind: 'linked' })
  // Further down the chain counts too (a delta on the snapshot's delta).
  t.same(linkedVerdict([{ label: 'Hard disk 1', files: ['[ds] C1/C1-000001.vmdk', '[ds] C1/C1.vmdk', BASE] }], [BASE]), { kind: 'linked' })
})

t.test('a disk without a parent is a full copy', async (t) => {
  t.same(linkedVerdict([{ label: 'Hard disk 1', files: ['[ds] C1/C1.vmdk'] }], [BASE]), { kind: 'full', disks: ['Hard disk 1'] })
  const mixed = linkedVerdict(
    [
      { label: 'Hard disk 1', files: ['[ds] C1/C1.vmdk', BASE] },
      { label: 'Hard disk 2', files: ['[ds] C1/C1_1.vmdk'] },
    ],
    [BASE, '[ds] Tmpl/Tmpl_1.vmdk'],
  )
  t.same(mixed, { kind: 'full', disks: ['Hard disk 2'] })
  t.same(linkedVerdict([], [BASE]), { kind: 'full', disks: [] })
})

t.test('a chain onto another snapshot is told apart', async (t) => {
  // Cloned from Base while Later was asked: the chain never reaches Later's file.
  const verdict = linkedVerdict([{ label: 'Hard disk 1', files: ['[ds] C1/C1.vmdk', BASE] }], [LATER])
  t.same(verdict, { kind: 'other-snapshot', disk: 'Hard disk 1', chain: ['[ds] C1/C1.vmdk', BASE], expected: [LATER] })
})

t.test('the warning names the clone', async (t) => {
  const w = silentFullCloneWarning('Capture07')
  t.equal(w.code, 'SILENT_FULL_CLONE')
  t.match(w.message, 'Capture07')
})

t.test('the space report counts a full copy as a thin full copy at least', async (t) => {
  const gib = 2 ** 30
  const linked = { capacityBytes: 11 * gib, unsharedBytes: 0.25 * gib, linked: true }
  // vCenter's figures may lag behind; a full copy shares nothing with its parent.
  const full = { capacityBytes: 11 * gib, unsharedBytes: 0.25 * gib, linked: false }
  const space = measuredGroupSpace({ name: 'Tmpl', parentUsedBytes: 4 * gib, clones: [linked, full] })
  t.equal(space.fullClones, 1)
  t.equal(space.linkedGB, 4 + 0.25 + 4)
  const unchecked = measuredGroupSpace({ name: 'Tmpl', parentUsedBytes: 4 * gib, clones: [linked, { ...full, linked: null }] })
  t.equal(unchecked.fullClones, 0)
  t.equal(unchecked.linkedGB, 4.5)
})
