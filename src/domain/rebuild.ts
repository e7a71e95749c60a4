/**
 * Rebuilding a pool's clones (refresh, recompose): which clones, how many unavailable at once, and
 * which snapshot of the parent. Pure; refusals are thrown as service errors before anything changes.
 *
 * A rebuild rolls: each clone is destroyed and made again under its name and number, at most
 * `maxUnavailable` at a time (a sliding window, lowest numbers first: a slot freed by one clone
 * starts the next at once rather than waiting for a whole batch).
 */
import { SnapshotAmbiguous, SnapshotMissing, SnapshotNotFound, ValidationFailed } from '../errors.js'
import type { ParentFacts, SnapshotFacts } from './plan.js'
import { MAX_POOL_SIZE } from './pool.js'

/** A quarter of the clones rebuilt, at least one: three in four stay available throughout. */
export function defaultMaxUnavailable(count: number): number {
  return Math.max(1, Math.floor(count / 4))
}

/** The window of a rebuild of `count` clones: the request's value, or the default. */
export function maxUnavailableFor(requested: number | undefined, count: number): number {
  if (requested === undefined) return defaultMaxUnavailable(count)
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_POOL_SIZE) {
    throw new ValidationFailed(
      { field: 'maxUnavailable', minimum: 1, maximum: MAX_POOL_SIZE },
      `"maxUnavailable" must be an integer from 1 to ${MAX_POOL_SIZE}`,
    )
  }
  return Math.min(requested, Math.max(count, 1))
}

export interface LiveClone {
  name: string
  number: number
}

/**
 * The clones to rebuild, by number: every live one, or those named in `subset` (each must be a live
 * clone of the pool; unknown names are listed in `details.names`).
 */
export function selectClones<T extends LiveClone>(live: readonly T[], subset?: readonly string[]): T[] {
  const sorted = [...live].sort((a, b) => a.number - b.number)
  if (subset === undefined) return sorted
  if (subset.length === 0) throw new ValidationFailed({ field: 'clones' }, '"clones" is empty; leave it out to refresh every clone')
  const wanted = new Set(subset)
  const known = new Set(sorted.map((c) => c.name))
  const unknown = [...wanted].filter((name) => !known.has(name))
  if (unknown.length > 0) {
    throw new ValidationFailed({ field: 'clones', names: unknown }, `not live clones of this pool: ${unknown.join(', ')}`)
  }
  return sorted.filter((c) => wanted.has(c.name))
}

/**
 * The snapshot a rebuild (or a pool's scale up) clones from: by moref (the pool's recorded one), by
 * name (a recompose's request), else the parent's current snapshot.
 */
export function chooseSnapshot(parent: ParentFacts, wanted: { moref?: string | null; name?: string } = {}): SnapshotFacts {
  const all = parent.snapshots ?? (parent.currentSnapshot ? [parent.currentSnapshot] : [])
  if (wanted.moref) {
    const found = all.find((s) => s.moref === wanted.moref)
    if (!found) throw new SnapshotNotFound({ parent: parent.name, snapshotMoref: wanted.moref }, parent.name, wanted.moref)
    return found
  }
  if (wanted.name !== undefined) {
    // As the parents' routes name a snapshot: its moref, else its name.
    const byMoref = all.find((s) => s.moref === wanted.name)
    if (byMoref) return byMoref
    const found = all.filter((s) => s.name === wanted.name)
    if (found.length === 0) {
      throw new SnapshotNotFound({ parent: parent.name, snapshot: wanted.name }, parent.name, `named "${wanted.name}"`)
    }
    if (found.length > 1) {
      throw new SnapshotAmbiguous(
        {
          parent: parent.name,
          snapshot: wanted.name,
          morefs: found.map((s) => s.moref),
          candidates: found.map((s) => ({ moref: s.moref, name: s.name, createdAt: s.createdAt ?? null })),
        },
        parent.name,
        wanted.name,
      )
    }
    return found[0]!
  }
  if (!parent.currentSnapshot) throw new SnapshotMissing({ parent: parent.name }, parent.name)
  return parent.currentSnapshot
}
