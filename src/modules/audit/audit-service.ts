/**
 * The audit: records a write once it was answered (never failing nor delaying the request: a failed
 * write is logged), and lists the records for admins.
 */
import type { FastifyBaseLogger } from 'fastify'
import { decodeCursor } from '../../graphql/pagination.js'
import { ValidationFailed } from '../../errors.js'
import type { AuditFilter, AuditRepository, ListedAuditEvent, NewAuditEvent } from '../../db/repositories/audit.js'
import { auditCursorKey } from '../../db/repositories/audit.js'
import { encodeCursor } from '../../graphql/pagination.js'

export type { AuditFilter, ListedAuditEvent, NewAuditEvent }
export { auditCursorKey }

/** A cursor of this list: (at, id), else 400 VALIDATION_FAILED naming the field it came in. */
export function decodeAuditCursor(cursor: string, field: 'cursor' | 'after'): string[] {
  const refused = () => new ValidationFailed({ field }, `"${field}" is not a cursor given by this API`)
  let key: string[] | undefined
  try {
    key = decodeCursor(cursor, 2)
  } catch {
    throw refused()
  }
  if (!key || Number.isNaN(Date.parse(key[0]!)) || !/^\d{1,18}$/.test(key[1]!)) throw refused()
  return key
}

export class AuditService {
  private readonly pending = new Set<Promise<void>>()

  constructor(
    private readonly repository: AuditRepository,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Starts the write and returns at once; a failure is logged, never thrown. */
  record(event: NewAuditEvent): void {
    const write = this.repository.record(event).catch((err: unknown) => {
      this.log.error({ err, operation: event.operation, requestId: event.requestId }, 'audit event not recorded')
    })
    this.pending.add(write)
    void write.finally(() => this.pending.delete(write))
  }

  /** Resolves once every write started so far is over (on close, and for tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending])
  }

  /** Up to `limit` rows after the cursor's key, newest first (GraphQL's connection reads limit + 1). */
  page(filter: AuditFilter, limit: number, after?: readonly string[]): Promise<ListedAuditEvent[]> {
    return this.repository.page(filter, limit, after)
  }

  count(filter: AuditFilter): Promise<number> {
    return this.repository.count(filter)
  }

  /** A REST page: `limit` events and the next page's cursor (null on the last). */
  async list(filter: AuditFilter, limit: number, cursor?: string) {
    const rows = await this.repository.page(filter, limit + 1, cursor === undefined ? undefined : decodeAuditCursor(cursor, 'cursor'))
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(auditCursorKey(last)) : null }
  }
}
