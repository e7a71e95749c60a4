/**
 * Label values for the metrics, kept few: a task's kind from its descriptionId, a limiter scope without
 * per-deployment ids, a route's pattern (never the URL with its ids and query string). Pure.
 */

/** The last part of a task's descriptionId (vCenter's and vcsim's spellings) -> its kind. */
const TASK_KINDS: Record<string, string> = {
  clone: 'clone',
  clonevm: 'clone',
  customize: 'customize',
  customizevm: 'customize',
  poweron: 'power_on',
  poweroff: 'power_off',
  destroy: 'destroy',
  createsnapshot: 'create_snapshot',
  remove: 'remove_snapshot',
  removesnapshot: 'remove_snapshot',
  revert: 'revert_snapshot',
  reverttosnapshot: 'revert_snapshot',
  rename: 'rename',
  reconfigure: 'reconfigure',
  reconfigvm: 'reconfigure',
}

/** `VirtualMachine.clone` / `VirtualMachine.cloneVm` -> `clone`; anything unknown -> `other`. */
export function taskKind(descriptionId: string | undefined): string {
  const last = descriptionId?.split('.').pop()?.toLowerCase() ?? ''
  return TASK_KINDS[last] ?? 'other'
}

/**
 * A limiter scope key as a label: vCenter, host and datastore keys are bounded by the inventory and
 * kept; a deployment's own limit is one label for all of them (ids would grow without end).
 */
export function scopeLabel(key: string): string {
  if (key.startsWith('deployment:')) return 'deployment'
  return key
}

/** The route's pattern (`/v1/deployments/:id`), or `unmatched` for a URL no route answers. */
export function routeLabel(pattern: string | undefined): string {
  return pattern && pattern.length > 0 ? pattern : 'unmatched'
}
