/**
 * The audit of every write: one row per request, appended only (the table's trigger refuses UPDATE,
 * DELETE and TRUNCATE), read by admins newest first in keyset pages.
 */
import { and, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm'
import type { Database, Db } from '../database.js'
import { auditEvents, type AuditEventRow } from '../schema.js'

export type NewAuditEvent = Omit<typeof auditEvents.$inferInsert, 'id' | 'at'>

export interface AuditFilter {
  team?: string
  sub?: string
  objectType?: string
  objectId?: string
  /** From this instant, included. */
  since?: Date
  /** Up to this instant, excluded. */
  until?: Date
}

/** `at` as PostgreSQL prints it (a JavaScript Date would lose its microseconds), for the cursor. */
export type ListedAuditEvent = AuditEventRow & { cursorAt: string }
export const auditCursorKey = (e: ListedAuditEvent): string[] => [e.cursorAt, String(e.id)]

export class AuditRepository {
  private readonly db: Db

  constructor(database: Database) {
    this.db = database.db
  }

  async record(event: NewAuditEvent): Promise<void> {
    await this.db.insert(auditEvents).values(event)
  }

  /** Newest first, after the cursor's key (at, id). */
  async page(filter: AuditFilter, limit: number, after?: readonly string[]): Promise<ListedAuditEvent[]> {
    const conditions = filterConditions(filter)
    if (after) conditions.push(sql`(${auditEvents.at}, ${auditEvents.id}) < (${after[0]}::timestamptz, ${after[1]}::bigint)`)
    const rows = await this.db
      .select({ event: auditEvents, cursorAt: sql<string>`${auditEvents.at}::text` })
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(desc(auditEvents.at), desc(auditEvents.id))
      .limit(limit)
    return rows.map((r) => ({ ...r.event, cursorAt: r.cursorAt }))
  }

  async count(filter: AuditFilter): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(auditEvents)
      .where(and(...filterConditions(filter)))
    return row?.n ?? 0
  }
}

function filterConditions(filter: AuditFilter): SQL[] {
  const conditions: SQL[] = []
  if (filter.team !== undefined) conditions.push(eq(auditEvents.team, filter.team))
  if (filter.sub !== undefined) conditions.push(eq(auditEvents.sub, filter.sub))
  if (filter.objectType !== undefined) conditions.push(eq(auditEvents.objectType, filter.objectType))
  if (filter.objectId !== undefined) conditions.push(eq(auditEvents.objectId, filter.objectId))
  if (filter.since !== undefined) conditions.push(gte(auditEvents.at, filter.since))
  if (filter.until !== undefined) conditions.push(lt(auditEvents.at, filter.until))
  return conditions
}
