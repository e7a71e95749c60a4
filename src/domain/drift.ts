/**
 * Drift: how a pool's clones in vCenter differ from what the service recorded. Pure: the reconciler
 * reads vCenter in bulk and hands the observations here.
 *
 * Per clone: `missing` (no VM at the recorded moref, nor with the recorded instance UUID),
 * `powered_off`, `renamed` (vCenter's name is not the recorded one), `guest_failed` (its guest
 * customization failed or timed out and its VM, ours by instance UUID, is still there). Per pool: `too_many_hosts`
 * (the clones run on more distinct hosts than the pool's host limit, e.g. after DRS moved them), and
 * `short` (fewer live clones than the pool's size: some failed, and a failed clone frees its number).
 */

export type DriftKind = 'missing' | 'powered_off' | 'renamed' | 'guest_failed' | 'too_many_hosts' | 'short'

export interface DriftFinding {
  kind: DriftKind
  /** The clone (absent for the pool's findings: too_many_hosts, short). */
  clone?: string
  number?: number
  /** What the records say (the name, the host limit, the pool's size). */
  expected?: string | number
  /** What vCenter says (its name, the power state, the number of hosts, the live clones). */
  actual?: string | number
}

export interface RecordedClone {
  id: string
  name: string
  number: number
  moref: string
}

export interface ObservedVm {
  moref: string
  name: string
  powerState: string
  host?: string
}

export interface PoolDrift {
  /** `none` when vCenter agrees with the records. */
  status: 'none' | 'found'
  checkedAt: string
  /** Clones compared. */
  checked: number
  /** Distinct hosts the clones run on, and the pool's limit. */
  hosts: number
  hostLimit: number
  findings: DriftFinding[]
}

/** The default host limit of a pool that sets none (VMFS before VMFS5). */
export const DEFAULT_HOST_LIMIT = 8

/**
 * Compares recorded clones with what vCenter holds. `observed` is keyed by the recorded moref (a clone
 * re-registered under another moref, found again by its instance UUID, is given under its recorded
 * moref too); a clone absent from it is missing.
 */
export function classifyDrift(
  clones: readonly RecordedClone[],
  observed: ReadonlyMap<string, ObservedVm>,
  hostLimit: number | null | undefined,
  checkedAt: Date,
  /** The pool's size and its live clones (ready or still being made), when the pool is checked for being short. */
  size?: { desired: number; live: number },
  /** Clones failed in the guest step whose VM (the recorded one) is still in vCenter. */
  guestFailed: readonly { name: string; number: number }[] = [],
): PoolDrift {
  const limit = hostLimit ?? DEFAULT_HOST_LIMIT
  const findings: DriftFinding[] = []
  const hosts = new Set<string>()
  for (const clone of [...clones].sort((a, b) => a.number - b.number)) {
    const vm = observed.get(clone.moref)
    if (!vm) {
      findings.push({ kind: 'missing', clone: clone.name, number: clone.number })
      continue
    }
    if (vm.host) hosts.add(vm.host)
    if (vm.powerState !== 'poweredOn') {
      findings.push({ kind: 'powered_off', clone: clone.name, number: clone.number, expected: 'poweredOn', actual: vm.powerState })
    }
    if (vm.name !== clone.name) {
      findings.push({ kind: 'renamed', clone: clone.name, number: clone.number, expected: clone.name, actual: vm.name })
    }
  }
  for (const clone of [...guestFailed].sort((a, b) => a.number - b.number)) {
    findings.push({ kind: 'guest_failed', clone: clone.name, number: clone.number })
  }
  if (hosts.size > limit) findings.push({ kind: 'too_many_hosts', expected: limit, actual: hosts.size })
  if (size && size.live < size.desired) findings.push({ kind: 'short', expected: size.desired, actual: size.live })
  return {
    status: findings.length ? 'found' : 'none',
    checkedAt: checkedAt.toISOString(),
    checked: clones.length,
    hosts: hosts.size,
    hostLimit: limit,
    findings,
  }
}

/** What a reconcile repairs; `too_many_hosts` is recorded only (moving clones back is DRS's business). */
export interface RepairPlan {
  /** Numbers to deploy again (their records are marked destroyed first). */
  recreate: number[]
  /** Clones to power on. */
  powerOn: string[]
  /** Clones to rename back to their recorded names. */
  rename: string[]
  /**
   * Numbers of clones failed in the guest step whose VM is still there: each VM destroyed and the
   * clone made again under its name and number (the failed record kept).
   */
  rebuild: number[]
  /** How many clones to add under the pool's next free numbers (it is short of its size, the rebuilt ones apart). */
  add: number
}

export function repairPlan(drift: PoolDrift): RepairPlan {
  const of = (kind: DriftKind) => drift.findings.filter((f) => f.kind === kind)
  // A guest-failed clone is not live: the pool is short of it too, and its rebuild fills that place
  // (no more of them than the pool lacks: a pool scaled down meanwhile does not grow back).
  const short = of('short').reduce((n, f) => n + Number(f.expected) - Number(f.actual), 0)
  const rebuild = of('guest_failed').map((f) => f.number!).slice(0, short)
  return {
    recreate: of('missing').map((f) => f.number!),
    powerOn: of('powered_off').map((f) => f.clone!),
    rename: of('renamed').map((f) => f.clone!),
    rebuild,
    add: Math.max(0, short - rebuild.length),
  }
}

export function isEmptyRepair(plan: RepairPlan): boolean {
  return plan.recreate.length === 0 && plan.powerOn.length === 0 && plan.rename.length === 0 && plan.rebuild.length === 0 && plan.add === 0
}
