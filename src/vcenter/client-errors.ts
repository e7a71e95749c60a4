/**
 * How a vCenter failure reaches a client, written once: an unreachable vCenter (or one that will not
 * keep a session) is 503 VCENTER_UNAVAILABLE; a task vCenter refused is 502 VCENTER_REFUSED; anything
 * else passes unchanged. Services wrap the vCenter calls a request waits for with `forClient`; jobs do
 * not (they tell VcenterUnreachable apart to pause and retry).
 */
import { VcenterRefused, VcenterUnavailable, isServiceError } from '../errors.js'
import { TaskFailed, VcenterUnreachable } from './gateway.js'

export function toClientError(err: unknown): unknown {
  if (isServiceError(err)) return err
  if (err instanceof VcenterUnreachable) return new VcenterUnavailable({ reason: err.message }, err.message)
  if (err instanceof TaskFailed) return new VcenterRefused({ faultType: err.faultType }, err.message)
  return err
}

/** The call's result, or its failure as a client should see it (see toClientError). */
export async function forClient<T>(call: Promise<T> | (() => Promise<T>)): Promise<T> {
  try {
    return await (typeof call === 'function' ? call() : call)
  } catch (err) {
    throw toClientError(err)
  }
}
