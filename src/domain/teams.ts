/**
 * Teams: who owns what. Every pool, deployment, preparation, clone record and webhook subscription
 * belongs to one team; a caller sees and changes only its teams' objects (another team's answers 404,
 * as if it did not exist), and `admin` everything. Pure: the callers pass what the token said.
 */
import { TeamForbidden, TeamRequired } from '../errors.js'

/** What authorization needs to know of a caller (the http layer's Principal is one). */
export interface TeamMember {
  sub: string
  /** From the token's teams claim (JWT_TEAMS_CLAIM); never empty: `user:<sub>` without one. */
  teams: readonly string[]
  /** `admin` scope: sees and acts on every team's objects. */
  admin: boolean
  /** The X-Request-Id of the request acting (http/request-id.ts), recorded on what it causes; none for the service itself. */
  requestId?: string
}

/** Which teams' objects a read may return: every team's, or these. */
export type TeamFilter = 'all' | readonly string[]

const MAX_TEAM_LENGTH = 200

/** The team of a caller without a teams claim, and of the records made before teams existed. */
export function personalTeam(sub: string): string {
  return `user:${sub}`
}

/**
 * A caller's teams from the token's claim: an array of strings (a single string is taken as one
 * team); anything else, or none, is the caller's personal team. Blank, over-long and NUL-bearing
 * entries are dropped rather than trusted.
 */
export function teamsFromClaim(claim: unknown, sub: string): string[] {
  const values = typeof claim === 'string' ? [claim] : Array.isArray(claim) ? claim : []
  const teams = [...new Set(values.filter((t): t is string => typeof t === 'string').map((t) => t.trim()))].filter(
    (t) => t !== '' && t.length <= MAX_TEAM_LENGTH && !t.includes('\u0000'),
  )
  return teams.length > 0 ? teams : [personalTeam(sub)]
}

/** The teams whose objects this caller sees. */
export function visibleTeams(member: TeamMember): TeamFilter {
  return member.admin ? 'all' : member.teams
}

export function canSee(filter: TeamFilter, team: string): boolean {
  return filter === 'all' || filter.includes(team)
}

/** Whether this caller may see and act on an object of `team`. */
export function owns(member: TeamMember, team: string): boolean {
  return canSee(visibleTeams(member), team)
}

/**
 * The team a new object belongs to: the caller's only team, or the one the request names (which the
 * caller must be in; an admin may name any). 400 TEAM_REQUIRED when a caller of several names none,
 * 403 TEAM_FORBIDDEN when it names one it is not in.
 */
export function owningTeam(member: TeamMember, requested?: string | null): string {
  if (requested !== undefined && requested !== null) {
    if (member.teams.includes(requested) || member.admin) return requested
    throw new TeamForbidden({ team: requested, teams: [...member.teams] }, requested)
  }
  if (member.teams.length === 1) return member.teams[0]!
  throw new TeamRequired({ teams: [...member.teams] }, member.teams.join('", "'))
}
