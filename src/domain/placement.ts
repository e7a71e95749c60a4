/**
 * Where clones go. All the clones of one parent share its base disk, and VMFS lets only so many
 * hosts open one disk (8 before VMFS5, 32 on VMFS5/NFS with vSphere 5.1+): so a parent's clones are
 * kept on at most `hostLimit` hosts of its cluster, spread evenly over them.
 */

export interface HostCandidate {
  moref: string
  name: string
  /** Connected and not in maintenance mode. */
  usable: boolean
}

export const DEFAULT_HOST_LIMIT = 8
export const MAX_HOST_LIMIT = 32

/**
 * The hosts a parent's clones may use: hosts already carrying its clones first (so that across
 * deployments the parent's clones stay on at most hostLimit hosts), then the least loaded others.
 */
export function chooseHosts(
  candidates: readonly HostCandidate[],
  hostLimit: number,
  parentClonesByHost: ReadonlyMap<string, number>,
): HostCandidate[] {
  const usable = candidates.filter((h) => h.usable)
  const used = usable.filter((h) => (parentClonesByHost.get(h.moref) ?? 0) > 0)
  const fresh = usable.filter((h) => !used.includes(h)).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
  used.sort((a, b) => (parentClonesByHost.get(b.moref) ?? 0) - (parentClonesByHost.get(a.moref) ?? 0))
  return [...used, ...fresh].slice(0, hostLimit)
}

/** Each new clone goes to the chosen host with the fewest of the parent's clones so far. */
export function placeClones(
  count: number,
  hosts: readonly HostCandidate[],
  parentClonesByHost: ReadonlyMap<string, number>,
): string[] {
  if (hosts.length === 0) return []
  const load = new Map(hosts.map((h) => [h.moref, parentClonesByHost.get(h.moref) ?? 0]))
  const placement: string[] = []
  for (let i = 0; i < count; i++) {
    let best = hosts[0]!.moref
    for (const h of hosts) if (load.get(h.moref)! < load.get(best)!) best = h.moref
    load.set(best, load.get(best)! + 1)
    placement.push(best)
  }
  return placement
}
