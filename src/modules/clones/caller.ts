/** A clones' Caller from the authenticated principal, for REST and GraphQL alike. */
import { hasScope, type Principal } from '../../http/auth-plugin.js'
import { visibleTeams } from '../../domain/teams.js'
import type { Caller } from './attribute-service.js'

export function cloneCaller(principal: Principal, options: { revealSecrets?: boolean } = {}): Caller {
  return {
    sub: principal.sub,
    canReadSecrets: (options.revealSecrets ?? true) && hasScope(principal, 'secrets:read'),
    canWriteSecrets: hasScope(principal, 'secrets:write'),
    teams: visibleTeams(principal),
  }
}
