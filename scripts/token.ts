/**
 * Prints a signed JWT for local use:
 *   npm run token -- --sub portal-user --scope "deployments:read deployments:write" [--groups team-a,team-b] [--expires 1h]
 * Signs with JWT_SECRET (HS256), the same secret the service is started with; JWT_ISSUER and
 * JWT_AUDIENCE are added as claims when set.
 */
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    scope: { type: 'string', default: 'deployments:read' },
    groups: { type: 'string' },
    expires: { type: 'string', default: '1h' },
  },
})

const secret = process.env.JWT_SECRET
if (!secret) {
  process.stderr.write('Set JWT_SECRET to the secret the service uses (npm run token signs HS256 tokens).\n')
  process.exit(1)
}
if (!values.sub) {
  process.stderr.write('Usage: npm run token -- --sub <user> [--scope "deployments:read deployments:write"] [--groups team-a,team-b] [--expires 1h]\n')
  process.exit(1)
}

const expiresIn = parseDuration(values.expires)
const sign = createSigner({
  key: secret,
  algorithm: 'HS256',
  expiresIn,
  ...(process.env.JWT_ISSUER ? { iss: process.env.JWT_ISSUER } : {}),
  ...(process.env.JWT_AUDIENCE ? { aud: process.env.JWT_AUDIENCE } : {}),
})
// The caller's teams, as an identity provider's `groups` claim (JWT_TEAMS_CLAIM names another).
const groups = values.groups?.split(',').map((g) => g.trim()).filter(Boolean)
const claim = process.env.JWT_TEAMS_CLAIM || 'groups'
process.stdout.write(sign({ sub: values.sub, scope: values.scope, ...(groups?.length ? { [claim]: groups } : {}) }) + '\n')

/** "90s", "15m", "1h", "7d" to milliseconds. */
function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text)
  if (!match) {
    process.stderr.write(`--expires must look like 90s, 15m, 1h or 7d, got "${text}"\n`)
    process.exit(1)
  }
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * unit
}
