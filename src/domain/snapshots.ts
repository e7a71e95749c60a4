/**
 * A parent's snapshots as the service reasons about them: the default name of a preparation's
 * snapshot, the tree flattened with each snapshot's parent, and which of them are in use by live
 * clones (recorded per clone as its deployment's snapshot moref). Pure.
 */
import { findInvalidXmlChar } from './xml-text.js'

/** vCenter's limit for a snapshot's name. */
export const MAX_SNAPSHOT_NAME_LENGTH = 80
export const MAX_SNAPSHOT_DESCRIPTION_LENGTH = 1000

/** A snapshot of the tree, with its place in it. */
export interface SnapshotNode {
  moref: string
  name: string
  description: string
  createdAt?: string
  /** The snapshot it was taken from; undefined for a root. */
  parentMoref?: string
  current: boolean
  /** Depth in the tree (roots 0). */
  depth: number
}

/** The tree as vCenter gives it (VirtualMachineSnapshotTree, reduced). */
export interface SnapshotTreeInput {
  moref: string
  name: string
  description?: string
  createdAt?: Date
  children: SnapshotTreeInput[]
}

/**
 * "<parent> YYYY-MM-DD", the date in UTC (the day the preparation was asked for): what the clones'
 * provenance shows as their snapshot's name.
 */
export function defaultSnapshotName(parentName: string, at: Date): string {
  const day = at.toISOString().slice(0, 10)
  const room = MAX_SNAPSHOT_NAME_LENGTH - day.length - 1
  return `${parentName.slice(0, room)} ${day}`
}

/** Why a snapshot name cannot be used, or undefined. */
export function invalidSnapshotNameReason(name: string): string | undefined {
  if (name.trim().length === 0) return 'is empty'
  if (name !== name.trim()) return 'starts or ends with a space'
  if (name.length > MAX_SNAPSHOT_NAME_LENGTH) return `is ${name.length} characters long; vCenter allows ${MAX_SNAPSHOT_NAME_LENGTH}`
  if (findInvalidXmlChar(name) >= 0) return 'contains a control character'
  return undefined
}

/** Depth-first, parents before their children, in vCenter's order. */
export function flattenSnapshots(roots: readonly SnapshotTreeInput[], currentMoref: string | undefined): SnapshotNode[] {
  const out: SnapshotNode[] = []
  const walk = (nodes: readonly SnapshotTreeInput[], parent: string | undefined, depth: number) => {
    for (const node of nodes) {
      out.push({
        moref: node.moref,
        name: node.name,
        description: node.description ?? '',
        createdAt: node.createdAt?.toISOString(),
        parentMoref: parent,
        current: node.moref === currentMoref,
        depth,
      })
      walk(node.children, node.moref, depth + 1)
    }
  }
  walk(roots, undefined, 0)
  return out
}

/** The snapshot and every snapshot taken after it on its branch (its descendants), as morefs. */
export function withDescendants(nodes: readonly SnapshotNode[], moref: string): Set<string> {
  const out = new Set([moref])
  // Parents come before their children in a flattened tree: one pass collects the whole subtree.
  for (const node of nodes) if (node.parentMoref && out.has(node.parentMoref)) out.add(node.moref)
  return out
}

/** The snapshot a path segment names: its moref first, else its name (several with the name: ambiguous). */
export function resolveSnapshot(
  nodes: readonly SnapshotNode[],
  ref: string,
): { found: SnapshotNode } | { ambiguous: SnapshotNode[] } | { missing: true } {
  const byMoref = nodes.find((n) => n.moref === ref)
  if (byMoref) return { found: byMoref }
  const byName = nodes.filter((n) => n.name === ref)
  if (byName.length === 1) return { found: byName[0]! }
  if (byName.length > 1) return { ambiguous: byName }
  return { missing: true }
}

/**
 * The snapshot a preparation made, found again after its answer was lost: the one with its name
 * taken no earlier than the preparation was accepted (less `skewMs` for the clocks of vCenter and
 * PostgreSQL). The latest if several.
 */
export function findPreparedSnapshot(
  nodes: readonly SnapshotNode[],
  name: string,
  acceptedAt: Date,
  skewMs = 60_000,
): SnapshotNode | undefined {
  const since = acceptedAt.getTime() - skewMs
  return nodes
    .filter((n) => n.name === name && n.createdAt !== undefined && new Date(n.createdAt).getTime() >= since)
    .sort((a, b) => (a.createdAt! < b.createdAt! ? 1 : -1))[0]
}

/** A live clone of the parent, as the in-use checks see it. */
export interface CloneUse {
  name: string
  pool: string | null
  snapshotMoref: string
  /** Recorded status: ready, or still being made (cloning...). */
  status: string
  /** From vCenter; undefined when it was not read (or the VM is gone). */
  powerState?: string
}

export interface ParentUse {
  /** Running clones made from a snapshot other than the one being prepared. */
  running: CloneUse[]
  /** The pools those clones belong to, by name (one-off deployments are not in any). */
  pools: string[]
  /** Running clones of no pool: recompose cannot move them. */
  unpooled: number
}

/**
 * Which live clones keep a parent from being prepared: those made from an older snapshot (any but
 * `targetSnapshotMoref`, the snapshot this preparation made if it exists already) that are powered
 * on, or still being made (they will be powered on); not those being destroyed.
 */
export function parentUse(clones: readonly CloneUse[], targetSnapshotMoref?: string): ParentUse {
  const running = clones.filter(
    (c) =>
      c.snapshotMoref !== targetSnapshotMoref &&
      // Being destroyed (strip back, scale down): on its way out, whatever its power state.
      c.status !== 'destroying' &&
      (c.status !== 'ready' || c.powerState === 'poweredOn'),
  )
  const pools = [...new Set(running.flatMap((c) => (c.pool ? [c.pool] : [])))].sort()
  return { running, pools, unpooled: running.filter((c) => !c.pool).length }
}
