/**
 * The scheduled drift check of every active pool (DRIFT_CHECK_MINUTES; `stately`: at most one queued
 * and one running across replicas): every active pool compared with vCenter in one bulk read, and
 * what differs recorded (PoolReconciler.checkAll). Repairs are asked for (reconcile), not made here.
 */
import { QUEUES } from '../../jobs/queues.js'

export const DRIFT_CHECK_QUEUE = QUEUES.driftCheck

/** What the check needs of the reconciler (PoolReconciler.checkAll). */
export interface DriftChecker {
  checkAll(): Promise<unknown>
}

/** The handler of the drift check's queue. */
export function driftCheckJob(reconciler: DriftChecker) {
  return async (): Promise<void> => {
    await reconciler.checkAll()
  }
}
