/**
 * One LISTEN connection per process for PostgreSQL notifications, shared by whoever needs them
 * (slot releases, new jobs). Reconnects after a dropped connection; listeners that must not miss a
 * wake-up also retry on a timer, since notifications sent while disconnected are lost.
 */
import { EventEmitter } from 'node:events'
import pg from 'pg'

const RECONNECT_MS = 1_000

/**
 * LISTENs on these channels on a connection made for it (another listener of its own, such as
 * GraphQL's progress bridge). The names are the service's own channels, used as they are.
 */
export async function listenOn(client: pg.Client, channels: Iterable<string>): Promise<void> {
  for (const channel of channels) await client.query(`LISTEN ${channel}`)
}

export class PgListener {
  private client?: pg.Client
  private readonly channels = new Set<string>()
  private readonly events = new EventEmitter()
  private closed = false

  constructor(private readonly databaseUrl: string) {
    this.events.setMaxListeners(0)
  }

  /** Subscribes to a channel; the returned function unsubscribes. */
  async on(channel: string, listener: (payload: string) => void): Promise<() => void> {
    this.events.on(channel, listener)
    if (!this.channels.has(channel)) {
      this.channels.add(channel)
      if (this.client) await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    }
    if (!this.client) await this.connect()
    return () => this.events.off(channel, listener)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.client?.end().catch(() => {})
    this.client = undefined
  }

  private async connect(): Promise<void> {
    if (this.closed) return
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'listener' })
    client.on('notification', (n) => this.events.emit(n.channel, n.payload ?? ''))
    client.on('error', () => {
      if (this.client === client) this.client = undefined
      if (!this.closed) setTimeout(() => void this.connect().catch(() => {}), RECONNECT_MS).unref()
    })
    await client.connect()
    for (const channel of this.channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
    this.client = client
  }
}
