/**
 * The progress notifications PostgreSQL publishes (migration 0002's triggers): `clone_progress` on
 * every insert and status change of a clone, `deployment_progress` on every status change of a
 * deployment. Parsing them is pure.
 */
import type { RecordedError } from '../../db/schema.js'
import type { CloneStatus, DeploymentStatus } from '../../domain/progress.js'

export const CHANNELS = ['clone_progress', 'deployment_progress'] as const

export interface CloneNotification {
  kind: 'clone'
  deploymentId: string
  cloneId: string
  name: string
  status: CloneStatus
  moref: string | null
  error: RecordedError | null
  /** The change's transaction time, microseconds since the epoch (equals the row's updated_at). */
  atMicros: number
}

export interface DeploymentNotification {
  kind: 'deployment'
  deploymentId: string
  status: DeploymentStatus
  error: RecordedError | null
  atMicros: number
}

export type ProgressNotification = CloneNotification | DeploymentNotification

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}(?::?\d{2})?)$/

/**
 * PostgreSQL's JSON timestamp ("2026-03-01T09:30:00.123456+01:00") in microseconds since the epoch,
 * exactly: a Date keeps milliseconds only.
 */
export function timestampMicros(text: string): number {
  const match = TIMESTAMP.exec(text)
  if (!match) throw new Error(`not a timestamp: ${text}`)
  const [, base, fraction = '', zone] = match
  let offset = zone!
  if (offset !== 'Z') offset = offset.length === 3 ? `${offset}:00` : offset.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')
  const seconds = Date.parse(`${base}${offset}`)
  if (Number.isNaN(seconds)) throw new Error(`not a timestamp: ${text}`)
  return seconds * 1000 + Number(fraction.padEnd(6, '0'))
}

/** A notification from its channel and payload; undefined for anything else (never throws). */
export function parseNotification(channel: string, payload: string | undefined): ProgressNotification | undefined {
  let body: Record<string, unknown>
  try {
    body = JSON.parse(payload ?? '')
    if (typeof body.deploymentId !== 'string' || typeof body.status !== 'string' || typeof body.at !== 'string') return undefined
    const common = {
      deploymentId: body.deploymentId,
      error: (body.error as RecordedError | null) ?? null,
      atMicros: timestampMicros(body.at),
    }
    if (channel === 'clone_progress' && typeof body.cloneId === 'string' && typeof body.name === 'string') {
      return {
        kind: 'clone',
        ...common,
        cloneId: body.cloneId,
        name: body.name,
        status: body.status as CloneStatus,
        moref: typeof body.moref === 'string' ? body.moref : null,
      }
    }
    if (channel === 'deployment_progress') return { kind: 'deployment', ...common, status: body.status as DeploymentStatus }
  } catch {
    return undefined
  }
  return undefined
}
