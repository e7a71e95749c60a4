/**
 * One subscription to a deployment's progress: a snapshot event first (the state when subscribing),
 * then one event per clone step and per deployment status change, as they are committed, until the
 * deployment is final (the stream then completes).
 *
 * Subscribing to notifications happens before the snapshot is read, so nothing falls between the two;
 * notifications that arrive meanwhile wait, and the tracker drops those the snapshot already shows.
 */
import { DeploymentNotFound } from '../../errors.js'
import type { ProgressSnapshot } from '../../db/repositories/deployments.js'
import { EventQueue } from './event-queue.js'
import type { ProgressNotification } from './notifications.js'
import type { ProgressListener } from './pg-listener.js'
import { ProgressTracker, isFinalDeploymentStatus, type ProgressEvent } from './tracker.js'

export interface ProgressSource {
  listener: Pick<ProgressListener, 'subscribe'>
  readSnapshot(deploymentId: string): Promise<ProgressSnapshot | undefined>
  onError(err: unknown): void
}

export async function openProgressStream(source: ProgressSource, deploymentId: string): Promise<EventQueue<ProgressEvent>> {
  const queue = new EventQueue<ProgressEvent>()
  let tracker: ProgressTracker | undefined
  const early: ProgressNotification[] = []
  let resyncing: Promise<void> = Promise.resolve()

  const publish = (event: ProgressEvent | undefined) => {
    if (!event) return
    queue.push(event)
    // The event that tells the final status is the last.
    if (isFinalDeploymentStatus(event.status)) queue.end()
  }

  const unsubscribe = await source.listener.subscribe(deploymentId, {
    notify(notification) {
      if (tracker) publish(tracker.apply(notification))
      else early.push(notification)
    },
    resync() {
      // One at a time, in order; before the first snapshot there is nothing to resync.
      resyncing = resyncing.then(async () => {
        if (!tracker || tracker.finished) return
        try {
          const fresh = await source.readSnapshot(deploymentId)
          if (fresh) for (const event of tracker.reconcile(fresh)) publish(event)
        } catch (err) {
          source.onError(err)
        }
      })
    },
  })
  queue.onEnd(unsubscribe)

  let snapshot: ProgressSnapshot | undefined
  try {
    snapshot = await source.readSnapshot(deploymentId)
  } catch (err) {
    queue.end()
    throw err
  }
  if (!snapshot) {
    queue.end()
    throw new DeploymentNotFound({ id: deploymentId }, deploymentId)
  }
  tracker = new ProgressTracker(snapshot)
  publish(tracker.snapshotEvent())
  for (const notification of early.splice(0)) publish(tracker.apply(notification))
  return queue
}
