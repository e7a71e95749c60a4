/**
 * The life of a clone and of a deployment, and how a deployment's status follows from its clones'.
 */

/** A clone's steps in order; `ready` and `failed` are final. */
export const CLONE_STEPS = ['pending', 'cloning', 'customizing', 'powering_on', 'guest_customizing', 'setting_attributes', 'ready'] as const
/** A pool's clone being destroyed (strip back, scale down): `destroying`, then `destroyed` (final). */
export const DESTROY_STEPS = ['destroying', 'destroyed'] as const
/**
 * A replacement (refresh, recompose) waits while the clone it replaces is destroyed; it becomes
 * `pending` in the same transaction that marks the old one `destroyed`, so one name and number are
 * held by one live clone at a time.
 */
export const REPLACE_STEPS = ['waiting'] as const
export type CloneStatus =
  | (typeof REPLACE_STEPS)[number]
  | (typeof CLONE_STEPS)[number]
  | 'failed'
  | (typeof DESTROY_STEPS)[number]

export type DeploymentStatus = 'queued' | 'running' | 'succeeded' | 'failed'

/**
 * `deploy` makes clones; `scale-down` and `strip` destroy a pool's clones; `refresh` and `recompose`
 * rebuild them (each replacement destroys the clone it replaces, then is made under its name);
 * `reconcile` repairs a pool's drift (deploys missing clones again, powers on and renames back the others).
 */
export const DEPLOYMENT_KINDS = ['deploy', 'scale-down', 'strip', 'refresh', 'recompose', 'reconcile'] as const
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number]

/** Kinds whose clones are those they destroy (clones.destroy_deployment_id), not those they make. */
export const DESTROY_KINDS: readonly DeploymentKind[] = ['scale-down', 'strip']
export const REBUILD_KINDS: readonly DeploymentKind[] = ['refresh', 'recompose']

/** Statuses of clones accepted whose VM is not running yet: their space on the datastore is still to come. */
export const NOT_YET_POWERED_ON_STATUSES = ['waiting', 'pending', 'cloning', 'customizing', 'powering_on'] as const

/** Statuses of clones that hold their name and number (and count in a pool). */
export const NOT_LIVE_STATUSES = ['failed', 'destroyed', 'waiting'] as const

/** Final statuses, as finishIfDone knows them too. */
export const FINAL_CLONE_STATUSES = ['ready', 'failed', 'destroyed'] as const

export function isFinalCloneStatus(status: CloneStatus): boolean {
  return (FINAL_CLONE_STATUSES as readonly string[]).includes(status)
}

export type StepCounts = Record<CloneStatus, number>

export function countByStatus(statuses: readonly CloneStatus[]): StepCounts {
  const counts = Object.fromEntries([...REPLACE_STEPS, ...CLONE_STEPS, 'failed', ...DESTROY_STEPS].map((s) => [s, 0])) as StepCounts
  for (const status of statuses) counts[status] += 1
  return counts
}

/** The deployment's status once all its clones are final; undefined while any is still in progress. */
export function finalDeploymentStatus(statuses: readonly CloneStatus[]): DeploymentStatus | undefined {
  if (!statuses.every(isFinalCloneStatus)) return undefined
  return statuses.includes('failed') ? 'failed' : 'succeeded'
}

export function durationSeconds(startedAt: Date | null, finishedAt: Date | null, now = new Date()): number | null {
  if (!startedAt) return null
  return Math.round(((finishedAt ?? now).getTime() - startedAt.getTime()) / 100) / 10
}
