/**
 * The bridge from PostgreSQL's LISTEN/NOTIFY to this process's subscribers: one dedicated connection
 * per process LISTENs on the progress channels and hands each notification to the subscribers of its
 * deployment. Whichever replica runs a clone's job, its status change is committed to the one
 * database, which notifies every replica: no in-memory emitter, nothing lost to a replica boundary.
 *
 * The connection is made when the first subscriber arrives. If it drops (database restart, network,
 * an administrator's pg_terminate_backend), it is made again with backoff while anyone listens, and
 * every subscriber is asked to resync: notifications sent meanwhile were lost, so each re-reads its
 * deployment and reports what changed (tracker.ts reconcile).
 */
import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import { listenOn } from '../../db/notifications.js'
import { CHANNELS, parseNotification, type ProgressNotification } from './notifications.js'

/** The listening connection's name in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'lcs-graphql-progress'

export interface ProgressSink {
  notify(notification: ProgressNotification): void
  /** The connection was lost and made again: notifications in between were missed. */
  resync(): void
}

export interface ProgressListenerOptions {
  databaseUrl: string
  log: FastifyBaseLogger
  /** Reconnection backoff: the first delay, doubled up to the last. */
  reconnectDelayMs?: { first: number; max: number }
}

export class ProgressListener {
  private client?: pg.Client
  private connecting?: Promise<void>
  private readonly sinks = new Map<string, Set<ProgressSink>>()
  private reconnectTimer?: NodeJS.Timeout
  private attempts = 0
  private closed = false

  constructor(private readonly options: ProgressListenerOptions) {}

  /**
   * Hands this deployment's notifications to the sink from the moment the returned promise resolves
   * (the connection LISTENs by then). The returned function unsubscribes.
   */
  async subscribe(deploymentId: string, sink: ProgressSink): Promise<() => void> {
    const set = this.sinks.get(deploymentId) ?? new Set()
    set.add(sink)
    this.sinks.set(deploymentId, set)
    const unsubscribe = () => {
      set.delete(sink)
      if (set.size === 0 && this.sinks.get(deploymentId) === set) this.sinks.delete(deploymentId)
    }
    try {
      await this.listening()
    } catch (err) {
      unsubscribe()
      throw err
    }
    return unsubscribe
  }

  /** Subscribers in this process (for tests and logs). */
  get subscriberCount(): number {
    let n = 0
    for (const set of this.sinks.values()) n += set.size
    return n
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.reconnectTimer)
    this.sinks.clear()
    const client = this.client
    this.client = undefined
    await this.connecting?.catch(() => {})
    await client?.end().catch(() => {})
  }

  private listening(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the progress listener is closed'))
    if (this.client) return Promise.resolve()
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: LISTENER_APPLICATION_NAME,
      // A connection that died silently (a dropped route) is noticed by the kernel.
      keepAlive: true,
    })
    client.on('notification', (message) => this.dispatch(message.channel, message.payload))
    client.on('error', (err) => this.lost(client, err))
    client.on('end', () => this.lost(client))
    try {
      await client.connect()
      await listenOn(client, CHANNELS)
    } catch (err) {
      await client.end().catch(() => {})
      throw err
    }
    if (this.closed) {
      await client.end().catch(() => {})
      throw new Error('the progress listener is closed')
    }
    this.client = client
    this.attempts = 0
  }

  private dispatch(channel: string, payload: string | undefined): void {
    const notification = parseNotification(channel, payload)
    if (!notification) {
      this.options.log.warn({ channel }, 'ignored a progress notification that could not be read')
      return
    }
    for (const sink of this.sinks.get(notification.deploymentId) ?? []) sink.notify(notification)
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client) return // not (or no longer) the listening connection
    this.client = undefined
    client.end().catch(() => {})
    if (this.closed) return
    this.options.log.warn({ err: err?.message }, 'lost the progress notification connection; reconnecting')
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    // With nobody listening, the next subscriber connects.
    if (this.reconnectTimer || this.closed || this.sinks.size === 0) return
    const { first, max } = this.options.reconnectDelayMs ?? { first: 100, max: 5_000 }
    const delay = Math.min(max, first * 2 ** this.attempts++)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.closed || this.sinks.size === 0) return
      this.listening().then(
        () => {
          this.options.log.info('listening for progress notifications again')
          for (const set of this.sinks.values()) for (const sink of set) sink.resync()
        },
        (reconnectError: Error) => {
          this.options.log.warn({ err: reconnectError.message }, 'could not reconnect for progress notifications')
          this.scheduleReconnect()
        },
      )
    }, delay)
    this.reconnectTimer.unref()
  }
}
