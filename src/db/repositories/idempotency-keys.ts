/**
 * Idempotency keys: the row is the lock. `claim` inserts it (or takes over one whose 24 hours are over,
 * or whose holder's lease ran out: that replica died mid-request) in one statement, so two replicas
 * racing on one key cannot both win; no lock or transaction is held while the request runs.
 */
import { and, eq, isNull, lt, sql } from 'drizzle-orm'
import type { Db } from '../database.js'
import { idempotencyKeys, type IdempotencyKeyRow } from '../schema.js'

export interface IdempotentRequest {
  ownerSub: string
  key: string
  method: string
  path: string
  bodyHash: string
  requestId: string
  /** A fresh token of this request's own: finish and release only apply while it holds the key. */
  holder: string
}

export interface StoredAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

export type Claim = { claimed: true } | { claimed: false; existing: IdempotencyKeyRow }

export class IdempotencyKeyRepository {
  constructor(
    private readonly db: Db,
    /** How long a key and its answer are kept. */
    private readonly ttlSeconds: number,
    /** How long a request may hold its key before another may take it over (its replica died). */
    private readonly leaseSeconds: number,
  ) {}

  async claim(request: IdempotentRequest): Promise<Claim> {
    const lockedUntil = sql`now() + make_interval(secs => ${this.leaseSeconds})`
    const claimed = await this.db
      .insert(idempotencyKeys)
      .values({ ...request, lockedUntil })
      .onConflictDoUpdate({
        target: [idempotencyKeys.ownerSub, idempotencyKeys.key],
        set: {
          method: request.method,
          path: request.path,
          bodyHash: request.bodyHash,
          requestId: request.requestId,
          holder: request.holder,
          lockedUntil,
          finishedAt: null,
          responseStatus: null,
          responseHeaders: null,
          responseBody: null,
          createdAt: sql`now()`,
        },
        // Expired, or unanswered by a holder whose lease is over (the same request only: another
        // body under this key is refused, never run).
        setWhere: sql`${idempotencyKeys.createdAt} < now() - make_interval(secs => ${this.ttlSeconds})
          OR (${idempotencyKeys.finishedAt} IS NULL AND ${idempotencyKeys.lockedUntil} < now()
              AND ${idempotencyKeys.method} = ${request.method} AND ${idempotencyKeys.path} = ${request.path}
              AND ${idempotencyKeys.bodyHash} = ${request.bodyHash})`,
      })
      .returning({ key: idempotencyKeys.key })
    if (claimed.length > 0) return { claimed: true }
    const [existing] = await this.db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.ownerSub, request.ownerSub), eq(idempotencyKeys.key, request.key)))
    // Gone between the two statements (released after a 5xx): try once more.
    if (!existing) return this.claim(request)
    return { claimed: false, existing }
  }

  /** The answer of the request holding the key, kept for its repeats. */
  async finish(ownerSub: string, key: string, holder: string, answer: StoredAnswer): Promise<void> {
    await this.db
      .update(idempotencyKeys)
      .set({ finishedAt: sql`now()`, responseStatus: answer.status, responseHeaders: answer.headers, responseBody: answer.body })
      .where(and(eq(idempotencyKeys.ownerSub, ownerSub), eq(idempotencyKeys.key, key), eq(idempotencyKeys.holder, holder), isNull(idempotencyKeys.finishedAt)))
  }

  /** Frees the key (the request failed on our side, 5xx): a repeat runs again. */
  async release(ownerSub: string, key: string, holder: string): Promise<void> {
    await this.db
      .delete(idempotencyKeys)
      .where(and(eq(idempotencyKeys.ownerSub, ownerSub), eq(idempotencyKeys.key, key), eq(idempotencyKeys.holder, holder), isNull(idempotencyKeys.finishedAt)))
  }

  /** Deletes keys past their time; answers how many. */
  async deleteExpired(): Promise<number> {
    const deleted = await this.db
      .delete(idempotencyKeys)
      .where(lt(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${this.ttlSeconds})`))
      .returning({ key: idempotencyKeys.key })
    return deleted.length
  }
}
