/**
 * Is a clone really linked? After CloneVM_Task the clone's virtual disks are read: a linked clone's
 * disk (VirtualDiskFlatVer2BackingInfo) has a `parent` chain that reaches a file of the snapshot it
 * was made from (the snapshot's own disk files). A disk with no parent is a full copy: vCenter makes
 * one silently when diskMoveType or the snapshot is missing (ansible #42349). A chain that reaches
 * other files backs onto another snapshot than planned. Pure.
 */

/** One virtual disk of the clone: its file, then its backing's parents, nearest first. */
export interface DiskChain {
  label: string
  files: string[]
}

export type LinkedVerdict =
  | { kind: 'linked' }
  /** Every disk (or some) is a full copy: no parent chain at all. */
  | { kind: 'full'; disks: string[] }
  /** A disk backs onto files that are not the snapshot's. */
  | { kind: 'other-snapshot'; disk: string; chain: string[]; expected: string[] }

/**
 * `disks`: the clone's disks; `snapshotFiles`: the files of the chosen snapshot's disks (the files a
 * linked clone's chain must reach).
 */
export function linkedVerdict(disks: readonly DiskChain[], snapshotFiles: readonly string[]): LinkedVerdict {
  const expected = new Set(snapshotFiles)
  const full: string[] = []
  for (const disk of disks) {
    const parents = disk.files.slice(1)
    if (parents.length === 0) {
      full.push(disk.label)
      continue
    }
    if (!parents.some((file) => expected.has(file))) {
      return { kind: 'other-snapshot', disk: disk.label, chain: disk.files, expected: [...snapshotFiles] }
    }
  }
  // A clone without disks shares nothing: a full copy as far as space goes.
  if (disks.length === 0) return { kind: 'full', disks: [] }
  return full.length ? { kind: 'full', disks: full } : { kind: 'linked' }
}

/** The warning a deployment gets once one of its clones is found to be a full copy. */
export function silentFullCloneWarning(cloneName: string): { code: 'SILENT_FULL_CLONE'; message: string } {
  return {
    code: 'SILENT_FULL_CLONE',
    message: `vCenter made ${cloneName} as a full copy, not a linked clone (its disks have no parent on the snapshot); see each clone's "linked"`,
  }
}
