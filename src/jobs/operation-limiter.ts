/**
 * Operations at once, counted across every replica of the service: per vCenter, per host, per
 * datastore and per deployment. A slot is a PostgreSQL advisory lock held by the worker's own
 * connection, so the count lives in the database all replicas share, and a worker that dies frees
 * its slots with its connection (no lease to expire, nothing to clean up).
 *
 * A scope with limit N has N slots: the lock pairs (hash(scope), 0..N-1). Acquiring takes one free
 * slot in every scope or none; a worker that finds a scope full gives back what it took and waits
 * for a release notification (or a short timeout) before trying again.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import pg from 'pg'
import type { Limits } from '../config/config.js'
import type { PgListener } from '../db/notifications.js'
import { notify, releaseSlot, tryLock, tryTakeSlot, unlock } from '../db/repositories/locks.js'

export interface LimitScope {
  /** e.g. "vcenter", "host:host-21", "datastore:datastore-15", "deployment:<id>" */
  key: string
  limit: number
}

export interface Lease {
  /** Gives the slots back; the ownership lock (if any) stays until close(). Safe to call twice. */
  release(): Promise<void>
  /** Gives everything back and returns the connection. */
  close(): Promise<void>
}

/** A connection holding a job's ownership lock, on which its slots are then taken. */
export interface Ownership extends Lease {
  /** Takes a slot in every scope, waiting as long as needed (or until the signal aborts). */
  take(scopes: LimitScope[], signal?: AbortSignal): Promise<void>
}

/** Takes a slot in every scope (across replicas) before a clone touches vCenter. */
export interface Limiter {
  /** Undefined when another worker owns the clone. */
  acquire(scopes: LimitScope[], signal?: AbortSignal, owner?: string): Promise<Lease | undefined>
  /**
   * The clone's ownership lock alone, taken before anything of its job that may wait (reads through a
   * busy pool): from then on the reaper sees the job alive. Undefined when another worker owns it.
   */
  own(owner: string): Promise<Ownership | undefined>
}

/** What the limiter reports as slots are taken and given back (metrics); the scopes are their keys. */
export interface LimiterObserver {
  /** Slots taken in these scopes after waiting `waitMs` (0 when they were free at once). */
  acquired?(scopes: string[], waitMs: number): void
  released?(scopes: string[]): void
}

const RELEASED = 'operation_slot_released'
/** Waiters retry at least this often, in case a notification was missed. */
const RETRY_MS = 1_000

export class OperationLimiter implements Limiter {
  private readonly pool: pg.Pool
  private readonly released = new EventEmitter()
  private unlisten?: () => void
  private closed = false

  constructor(
    databaseUrl: string,
    private readonly maxHolders: number,
    private readonly listener: PgListener,
    private readonly observer: LimiterObserver = {},
  ) {
    // One connection per lease held at once (LISTEN has its own). All are kept open: a burst of
    // clones would otherwise pay a connection start-up for each worker before its first vCenter call.
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: maxHolders, min: maxHolders, application_name: 'operation-limiter' })
    this.pool.on('error', () => {})
    this.released.setMaxListeners(0)
  }

  async start(): Promise<void> {
    this.unlisten = await this.listener.on(RELEASED, () => this.released.emit('release'))
    // Opened now, not on the first burst (see the constructor).
    const clients = await Promise.all(Array.from({ length: this.maxHolders }, () => this.pool.connect()))
    for (const client of clients) client.release()
  }

  /**
   * Takes a slot in every scope, waiting as long as needed (or until the signal aborts). With an
   * `owner` (a clone's id), first takes that clone's ownership lock on the same connection, held until
   * close: it tells the reaper that the clone's job is alive, and that no other worker may run it
   * (undefined is returned when another worker holds it).
   */
  async acquire(scopes: LimitScope[], signal?: AbortSignal, owner?: string): Promise<Lease | undefined> {
    const lease = owner === undefined ? this.lease(await this.pool.connect()) : await this.own(owner)
    if (!lease) return undefined
    try {
      await lease.take(scopes, signal)
    } catch (err) {
      await lease.close()
      throw err
    }
    return lease
  }

  async own(owner: string): Promise<Ownership | undefined> {
    const client = await this.pool.connect()
    try {
      if (!(await tryLock(client, ownerLockId(owner)))) {
        client.release()
        return undefined
      }
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
    return this.lease(client, owner)
  }

  async close(): Promise<void> {
    this.closed = true
    this.released.emit('release')
    this.unlisten?.()
    await this.pool.end()
  }

  /**
   * One statement per scope; a full scope gives back the slots taken so far (not the ownership
   * lock). Returns the (scope id, slot) pairs taken, or undefined.
   */
  private async tryAll(client: pg.PoolClient, scopes: LimitScope[]): Promise<[number, number][] | undefined> {
    const taken: [number, number][] = []
    for (const scope of scopes) {
      const slot = await tryTakeSlot(client, scopeId(scope.key), scope.limit)
      if (slot === undefined) {
        await unlockSlots(client, taken)
        return undefined
      }
      taken.push([scopeId(scope.key), slot])
    }
    return taken
  }

  private lease(client: pg.PoolClient, owner?: string): Ownership {
    let slots: [number, number][] = []
    // The scopes of the slots held, for the observer: told once per take and once per release.
    let heldScopes: string[] = []
    let closed = false
    // A connection that failed a query is discarded on close: the server frees its locks with it.
    let broken: Error | undefined
    const fail = (err: unknown) => {
      broken ??= err instanceof Error ? err : new Error(String(err))
      return broken
    }
    const release = async () => {
      if (heldScopes.length > 0) {
        const scopes = heldScopes
        heldScopes = []
        observe(() => this.observer.released?.(scopes))
      }
      if (slots.length === 0 || broken) return
      const held = slots
      slots = []
      try {
        await unlockSlots(client, held)
        await notify(client, RELEASED)
      } catch (err) {
        fail(err)
      }
    }
    return {
      take: async (scopes, signal) => {
        if (slots.length > 0) throw new Error('slots are already held')
        const started = performance.now()
        for (;;) {
          const taken = await this.tryAll(client, scopes).catch((err: unknown) => {
            throw fail(err)
          })
          if (taken) {
            slots = taken
            heldScopes = scopes.map((scope) => scope.key)
            observe(() => this.observer.acquired?.(heldScopes, performance.now() - started))
            return
          }
          signal?.throwIfAborted()
          if (this.closed) throw new Error('operation limiter closed')
          await this.waitForRelease(signal)
        }
      },
      release,
      close: async () => {
        if (closed) return
        closed = true
        await release()
        if (!broken && owner !== undefined) {
          await unlock(client, ownerLockId(owner)).catch((err: Error) => fail(err))
        }
        client.release(broken)
      },
    }
  }

  private waitForRelease(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.released.off('release', done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      // Jitter spreads the retries of many waiters.
      const timer = setTimeout(done, RETRY_MS * (0.5 + Math.random()))
      this.released.once('release', done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }
}

/**
 * The limits a clone's vCenter operations count against: vCenter, its host, its datastore, and its
 * deployment's `maxConcurrent` when it has one. Making a clone and destroying one count alike.
 */
export function cloneOperationScopes(
  clone: { hostMoref: string | null; datastoreMoref: string | null },
  limits: Pick<Limits, 'perVcenter' | 'perHost' | 'perDatastore'>,
  deployment?: { id: string; maxConcurrent: number | null },
): LimitScope[] {
  const scopes: LimitScope[] = [{ key: 'vcenter', limit: limits.perVcenter }]
  if (clone.hostMoref) scopes.push({ key: `host:${clone.hostMoref}`, limit: limits.perHost })
  if (clone.datastoreMoref) scopes.push({ key: `datastore:${clone.datastoreMoref}`, limit: limits.perDatastore })
  if (deployment?.maxConcurrent) scopes.push({ key: `deployment:${deployment.id}`, limit: deployment.maxConcurrent })
  return scopes
}

/** A stable 32-bit id for a scope key, for the first half of the advisory lock pair. */
export function scopeId(key: string): number {
  return createHash('sha256').update(`linked-clones:${key}`).digest().readInt32BE(0)
}

/** An observer's failure is not the limiter's. */
function observe(report: () => void): void {
  try {
    report()
  } catch {
    // ignored
  }
}

async function unlockSlots(client: pg.ClientBase, slots: [number, number][]): Promise<void> {
  for (const [id, slot] of slots) await releaseSlot(client, id, slot)
}

/** The 64-bit advisory lock id owning one clone's job: the first half of its UUID. */
export function ownerLockId(cloneId: string): string {
  return BigInt.asIntN(64, BigInt(`0x${cloneId.replace(/-/g, '').slice(0, 16)}`)).toString()
}
