/**
 * How long a deployment should take given the limits: clones run in waves of as many as the
 * tightest limit allows at once.
 */

export interface LimitsInForce {
  perVcenter: number
  perHost: number
  perDatastore: number
  /** The deployment's own limit, if any. */
  perDeployment?: number | null
}

/** Clones of one deployment that can run at once, spread over `hostCount` hosts on one datastore. */
export function effectiveConcurrency(limits: LimitsInForce, hostCount: number): number {
  return Math.max(
    1,
    Math.min(limits.perVcenter, limits.perHost * Math.max(1, hostCount), limits.perDatastore, limits.perDeployment ?? Infinity),
  )
}

export interface Estimate {
  concurrency: number
  waves: number
  seconds: number
}

/**
 * Waves of vCenter operations, then the guest step once: guests customize in parallel and hold no
 * operation slot, so only the last wave's guests add their time to the end.
 */
export function estimateDuration(count: number, concurrency: number, secondsPerClone: number, guestSeconds = 0): Estimate {
  const waves = Math.ceil(count / concurrency)
  const guest = count > 0 ? guestSeconds : 0
  return { concurrency, waves, seconds: Math.round((waves * secondsPerClone + guest) * 10) / 10 }
}

/** Time left for a running deployment: from its own pace once clones finish, else from the estimate. */
export function secondsLeft(done: number, total: number, elapsedSeconds: number | null, fallback: Estimate): number {
  if (done >= total) return 0
  if (done > 0 && elapsedSeconds && elapsedSeconds > 0) return Math.round(((total - done) * elapsedSeconds) / done)
  return Math.round(fallback.seconds * ((total - done) / total))
}
