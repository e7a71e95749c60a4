/**
 * One subscriber's view of a deployment: the state it was last told, and what each new notification
 * changes. Pure.
 *
 * Every change carries its transaction time (clones.updated_at = the notification's `at`, to the
 * microsecond). That orders what the subscriber learns from two sources: the snapshot read when it
 * subscribes (or after the listening connection was lost) and the notifications, which may arrive
 * before, after or twice. A change older than what is known is dropped; a change to the status
 * already known is not repeated.
 */
import type { RecordedError } from '../../db/schema.js'
import { countByStatus, isFinalCloneStatus, type CloneStatus, type DeploymentStatus, type StepCounts } from '../../domain/progress.js'
import type { ProgressSnapshot } from '../../db/repositories/deployments.js'
import type { CloneNotification, DeploymentNotification, ProgressNotification } from './notifications.js'

export interface CloneState {
  id: string
  name: string
  status: CloneStatus
  moref: string | null
  error: RecordedError | null
  atMicros: number
}

export interface ProgressCounts {
  total: number
  done: number
  failed: number
  byStatus: StepCounts
}

export interface ProgressEvent {
  /** snapshot: the state when subscribing; clone: a clone reached a step; deployment: its status changed. */
  kind: 'snapshot' | 'clone' | 'deployment'
  deploymentId: string
  /** The deployment's status after this event. */
  status: DeploymentStatus
  error: RecordedError | null
  clone?: CloneState
  progress: ProgressCounts
  atMicros: number
}

export const isFinalDeploymentStatus = (s: DeploymentStatus) => s === 'succeeded' || s === 'failed'

export class ProgressTracker {
  private readonly clones = new Map<string, CloneState>()
  private deployment: { status: DeploymentStatus; error: RecordedError | null; atMicros: number }

  constructor(private readonly snapshot: ProgressSnapshot) {
    this.deployment = { status: snapshot.status, error: snapshot.error ?? null, atMicros: snapshot.atMicros }
    for (const c of snapshot.clones) this.clones.set(c.id, { ...c, error: c.error ?? null })
  }

  /** The deployment is final: nothing more will happen to it. */
  get finished(): boolean {
    return isFinalDeploymentStatus(this.deployment.status)
  }

  snapshotEvent(): ProgressEvent {
    return this.event('snapshot', this.deployment.atMicros)
  }

  /** The event this notification makes, or undefined when it tells nothing new. */
  apply(n: ProgressNotification): ProgressEvent | undefined {
    if (n.deploymentId !== this.snapshot.deploymentId) return undefined
    return n.kind === 'clone' ? this.applyClone(n) : this.applyDeployment(n)
  }

  /** Events for what changed between the state known and a fresh snapshot (notifications were missed). */
  reconcile(snapshot: ProgressSnapshot): ProgressEvent[] {
    const changes: ProgressNotification[] = [
      ...snapshot.clones.map((c): CloneNotification => ({
        kind: 'clone',
        deploymentId: snapshot.deploymentId,
        cloneId: c.id,
        name: c.name,
        status: c.status,
        moref: c.moref,
        error: c.error ?? null,
        atMicros: c.atMicros,
      })),
      {
        kind: 'deployment',
        deploymentId: snapshot.deploymentId,
        status: snapshot.status,
        error: snapshot.error ?? null,
        atMicros: snapshot.atMicros,
      },
    ]
    // In the order they happened; a deployment's final status after the clone step that caused it.
    changes.sort((a, b) => a.atMicros - b.atMicros || (a.kind === b.kind ? 0 : a.kind === 'clone' ? -1 : 1))
    return changes.flatMap((n) => this.apply(n) ?? [])
  }

  progress(): ProgressCounts {
    const statuses = [...this.clones.values()].map((c) => c.status)
    const byStatus = countByStatus(statuses)
    return { total: statuses.length, done: statuses.filter(isFinalCloneStatus).length, failed: byStatus.failed, byStatus }
  }

  private applyClone(n: CloneNotification): ProgressEvent | undefined {
    const known = this.clones.get(n.cloneId)
    if (known && n.atMicros < known.atMicros) return undefined
    const state: CloneState = { id: n.cloneId, name: n.name, status: n.status, moref: n.moref, error: n.error, atMicros: n.atMicros }
    this.clones.set(n.cloneId, state)
    if (known && known.status === n.status) return undefined
    return { ...this.event('clone', n.atMicros), clone: state }
  }

  private applyDeployment(n: DeploymentNotification): ProgressEvent | undefined {
    const known = this.deployment
    if (n.atMicros < known.atMicros) return undefined
    this.deployment = { status: n.status, error: n.error, atMicros: n.atMicros }
    if (known.status === n.status) return undefined
    return this.event('deployment', n.atMicros)
  }

  private event(kind: ProgressEvent['kind'], atMicros: number): ProgressEvent {
    return {
      kind,
      deploymentId: this.snapshot.deploymentId,
      status: this.deployment.status,
      error: this.deployment.error,
      progress: this.progress(),
      atMicros,
    }
  }
}
