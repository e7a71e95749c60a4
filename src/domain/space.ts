/**
 * Space arithmetic of linked clones, as the seed justified them: 75 training machines take 675 GB
 * deployed traditionally (each a full copy of its disks), 238.75 GB as thin full copies (each the
 * space its parent's disks use), and 19.3 GB as linked clones (the parent's used space once, plus
 * each clone's own delta). Pure: figures in, figures out; the service feeds it either a forecast
 * request or measurements read from vCenter.
 *
 * Units: GB here are vSphere's (2^30 bytes, what the vSphere Client calls GB). Results are rounded
 * to 0.01 GB (percentages to 0.1): the inputs are decimal figures like 3.34, and binary floating
 * point would otherwise answer 19.299999999999997.
 */
import { InsufficientSpace, ValidationFailed } from '../errors.js'

export const BYTES_PER_GB = 2 ** 30

/** A parent and its clones, described by the figures the seed used. */
export interface SpaceGroup {
  name: string
  /** Clones of the parent. */
  count: number
  /** Capacity of the parent's disks: what each clone takes when deployed traditionally. */
  provisionedGB: number
  /** Space the parent's (thin) disks use: what each thin full copy takes. */
  usedGB: number
  /** Each linked clone's own delta disk. */
  deltaGB: number
}

export interface SpaceFigures {
  traditionalGB: number
  thinGB: number
  linkedGB: number
}

export interface Saving {
  gb: number
  percent: number
}

export interface Savings {
  /** Linked clones against traditional (thick) full clones. */
  versusTraditional: Saving
  /** Linked clones against thin full clones. */
  versusThin: Saving
}

export interface GroupSpace extends SpaceGroup, SpaceFigures {
  savings: Savings
}

export interface SpaceTotal extends SpaceFigures {
  count: number
  savings: Savings
}

export interface SpaceForecast {
  groups: GroupSpace[]
  total: SpaceTotal
}

/** Rounds to 0.01, decimally: 6.589999999999999 -> 6.59, 1.005 -> 1.01. */
export function roundGB(value: number): number {
  return roundTo(value, 2)
}

function roundTo(value: number, decimals: number): number {
  const scale = 10 ** decimals
  // toPrecision(15) drops the binary noise below the 15th significant digit before rounding.
  return Math.round(Number((value * scale).toPrecision(15))) / scale
}

export function savings(figures: SpaceFigures): Savings {
  const saving = (against: number): Saving => {
    const gb = roundGB(against - figures.linkedGB)
    return { gb, percent: against > 0 ? roundTo((gb / against) * 100, 1) : 0 }
  }
  return { versusTraditional: saving(figures.traditionalGB), versusThin: saving(figures.thinGB) }
}

/** traditional = count x provisioned, thin = count x used, linked = used (the parent) + count x delta. */
export function groupSpace(group: SpaceGroup): GroupSpace {
  const figures = {
    traditionalGB: roundGB(group.count * group.provisionedGB),
    thinGB: roundGB(group.count * group.usedGB),
    linkedGB: roundGB(group.usedGB + group.count * group.deltaGB),
  }
  return { ...group, ...figures, savings: savings(figures) }
}

/** Totals are sums of the groups' (rounded) figures, so that a table of them adds up. */
export function totalSpace(groups: readonly (SpaceFigures & { count: number })[]): SpaceTotal {
  const sum = (pick: (g: SpaceFigures) => number) => roundGB(groups.reduce((n, g) => n + pick(g), 0))
  const figures = {
    traditionalGB: sum((g) => g.traditionalGB),
    thinGB: sum((g) => g.thinGB),
    linkedGB: sum((g) => g.linkedGB),
  }
  return { count: groups.reduce((n, g) => n + g.count, 0), ...figures, savings: savings(figures) }
}

/** What the arithmetic cannot take (the schema checks types and ranges): 400 VALIDATION_FAILED. */
export function checkSpaceGroups(groups: readonly SpaceGroup[]): void {
  const seen = new Set<string>()
  groups.forEach((g, i) => {
    const at = `/groups/${i}`
    if (seen.has(g.name)) throw new ValidationFailed({ path: `${at}/name` }, `${at}/name "${g.name}" is given twice`)
    seen.add(g.name)
    if (g.usedGB > g.provisionedGB) {
      throw new ValidationFailed({ path: `${at}/usedGB` }, `${at}/usedGB (${g.usedGB}) is more than provisionedGB (${g.provisionedGB}): a thin disk uses at most its capacity`)
    }
    if (g.deltaGB > g.provisionedGB) {
      throw new ValidationFailed({ path: `${at}/deltaGB` }, `${at}/deltaGB (${g.deltaGB}) is more than provisionedGB (${g.provisionedGB})`)
    }
  })
}

export function forecastSpace(groups: readonly SpaceGroup[]): SpaceForecast {
  const computed = groups.map(groupSpace)
  return { groups: computed, total: totalSpace(computed) }
}

// ---- measured -------------------------------------------------------------------------------

/** What vCenter reports of a parent and its live clones (summary.storage, disk capacities), in bytes. */
export interface MeasuredGroup {
  name: string
  /** The parent's committed space: its disks as they are used, counted once for all its clones. */
  parentUsedBytes: number
  /** `linked: false`: a clone found to be a full copy (SILENT_FULL_CLONE), counted as a full one. */
  clones: readonly { capacityBytes: number; unsharedBytes: number; linked?: boolean | null }[]
}

/**
 * The seed's three figures from measurements: traditional = the clones' disk capacities, thin = one
 * copy of the parent's used space per clone, linked = the parent's used space + the clones' unshared
 * space (their deltas). Sums are taken in bytes (exact) and converted once; provisionedGB and deltaGB
 * are the per-clone means, so that a measured group reads like a forecast one.
 */
export function measuredGroupSpace(group: MeasuredGroup): GroupSpace & { fullClones: number } {
  const count = group.clones.length
  const capacity = group.clones.reduce((n, c) => n + c.capacityBytes, 0)
  // A full copy shares nothing with its parent: it takes at least a whole thin copy of it.
  const own = (c: MeasuredGroup['clones'][number]) => (c.linked === false ? Math.max(c.unsharedBytes, group.parentUsedBytes) : c.unsharedBytes)
  const unshared = group.clones.reduce((n, c) => n + own(c), 0)
  const fullClones = group.clones.filter((c) => c.linked === false).length
  const gb = (bytes: number) => roundGB(bytes / BYTES_PER_GB)
  const figures = {
    traditionalGB: gb(capacity),
    thinGB: gb(count * group.parentUsedBytes),
    linkedGB: gb(group.parentUsedBytes + unshared),
  }
  return {
    name: group.name,
    count,
    provisionedGB: count ? gb(capacity / count) : 0,
    usedGB: gb(group.parentUsedBytes),
    deltaGB: count ? gb(unshared / count) : 0,
    ...figures,
    savings: savings(figures),
    fullClones,
  }
}

// ---- will it fit ----------------------------------------------------------------------------

/**
 * What a new linked clone is expected to add to its datastore before anyone uses it: its delta after
 * customization, as the seed measured it on powered-off clones.
 */
export const CLONE_DELTA_ESTIMATE_GB = 0.13

export interface DatastoreSpace {
  moref: string
  name: string
  capacityBytes: number
  freeSpaceBytes: number
}

export interface SpaceNeed {
  count: number
  /** The parent's memory: each clone is powered on, and a powered-on VM has a swap file that size. */
  memoryMB: number
  deltaGB?: number
  /**
   * Clones already accepted on this datastore that are not yet powered on: vCenter's free space does not
   * show them yet, so their share is set aside.
   */
  pendingClones?: number
}

/**
 * The space a deployment needs on the parent's datastore: the forecast's linked figure less the
 * parent (already there), i.e. count x delta, plus a swap file per clone because the service powers
 * the clones on (the seed's figures are of powered-off machines).
 */
export function requiredSpaceGB(need: SpaceNeed): number {
  const perClone = (need.deltaGB ?? CLONE_DELTA_ESTIMATE_GB) + need.memoryMB / 1024
  return roundGB(need.count * perClone)
}

/** Refuses (422 INSUFFICIENT_SPACE) a deployment that would not fit in the datastore's free space. */
export function checkDatastoreSpace(datastore: DatastoreSpace, need: SpaceNeed): void {
  const requiredGB = requiredSpaceGB(need)
  const pendingClones = need.pendingClones ?? 0
  const reservedGB = requiredSpaceGB({ ...need, count: pendingClones })
  const freeGB = roundGB(datastore.freeSpaceBytes / BYTES_PER_GB - reservedGB)
  if (requiredGB <= freeGB) return
  throw new InsufficientSpace(
    {
      datastore: datastore.name,
      datastoreMoref: datastore.moref,
      freeGB,
      requiredGB,
      count: need.count,
      perCloneGB: roundGB(requiredGB / Math.max(need.count, 1)),
      ...(pendingClones > 0 ? { pendingClones, reservedGB } : {}),
    },
    datastore.name,
    String(freeGB),
    String(need.count),
    String(requiredGB),
  )
}
