/**
 * The guest's customization after power-on (Sysprep, Linux prep), as vCenter's events tell it, and
 * the guest's identity once it is up. Pure.
 */

export const DEFAULT_CUSTOMIZATION_TIMEOUT_MINUTES = 30
/** pg-boss lets a job run at most 24 h: a clone job must fit its longest guest wait and its vCenter work. */
export const MAX_CUSTOMIZATION_TIMEOUT_MINUTES = 12 * 60

export interface GuestCustomization {
  outcome: 'succeeded' | 'failed' | 'timeout'
  /** The event that ended it (CustomizationSucceeded, CustomizationSysprepFailed, ...). */
  eventType: string | null
  startedAt: string | null
  endedAt: string | null
  message: string | null
}

export interface GuestRecord {
  customization: GuestCustomization | null
  hostName: string | null
  ipAddresses: string[]
}

/** How long a clone may still wait, from when its wait began; never negative. */
export function remainingWaitMs(since: Date, timeoutMinutes: number, now = new Date()): number {
  return Math.max(0, since.getTime() + timeoutMinutes * 60_000 - now.getTime())
}

/** The recorded error of a customization that did not succeed. */
export function guestFailure(
  name: string,
  c: GuestCustomization,
  timeoutMinutes: number,
): { code: 'GUEST_CUSTOMIZATION_FAILED' | 'GUEST_CUSTOMIZATION_TIMEOUT'; faultType?: string; message: string } {
  if (c.outcome === 'failed') {
    return { code: 'GUEST_CUSTOMIZATION_FAILED', faultType: c.eventType ?? undefined, message: c.message ?? `the guest customization of ${name} failed` }
  }
  const started = c.startedAt ? `it started at ${c.startedAt}` : 'it never started'
  return { code: 'GUEST_CUSTOMIZATION_TIMEOUT', message: `The guest customization of ${name} did not end within ${timeoutMinutes} minutes (${started})` }
}
