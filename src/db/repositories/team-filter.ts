/**
 * The SQL side of domain/teams.ts: a read returns only the rows of the teams the caller sees
 * (`admin`: every team's). Every repository read that answers a caller goes through it.
 */
import { inArray, sql, type SQL } from 'drizzle-orm'
import type { AnyPgColumn } from 'drizzle-orm/pg-core'
import type { TeamFilter } from '../../domain/teams.js'

/** The condition on a `team` column, or undefined for every team. No team at all matches nothing. */
export function teamCondition(column: AnyPgColumn, filter: TeamFilter | undefined): SQL | undefined {
  if (filter === undefined || filter === 'all') return undefined
  if (filter.length === 0) return sql`false`
  return inArray(column, [...filter])
}

/** The same, for hand-written SQL: a `$n` parameter holding the teams, or null for every team. */
export function teamParameter(filter: TeamFilter | undefined): string[] | null {
  return filter === undefined || filter === 'all' ? null : [...filter]
}
