/**
 * compose.yaml as a team runs it: two replicas of the service on the official PostgreSQL image, with
 * health checks and a volume, and an environment the service's own configuration accepts (Docker
 * cannot run here: this reads the file, fills in its ${...} from .env.example-like values, and loads
 * the configuration from what each replica would get).
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/config.js'

const compose = parse(await readFile(new URL('../../compose.yaml', import.meta.url), 'utf8'))

/** Compose's interpolation for the forms the file uses: ${VAR}, ${VAR:-default}, ${VAR:?message}. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const set = env[name]
    if (set !== undefined && set !== '') return set
    if (op === '?') throw new Error(`${name}: ${arg}`)
    return op === '-' ? (arg ?? '') : ''
  })
}

const dotenv = {
  POSTGRES_PASSWORD: 'pg-password',
  SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
  JWT_SECRET: 'j'.repeat(40),
  VCENTER_URL: 'https://vcenter.example.com/sdk',
  VCENTER_USERNAME: 'svc-linked-clones',
  VCENTER_PASSWORD: 'vc-password',
}

t.test('two replicas on PostgreSQL, with health checks and a volume', async (t) => {
  const { postgres, service } = compose.services
  t.match(postgres.image, /^postgres:\d+/, 'the official PostgreSQL image')
  t.ok(postgres.healthcheck?.test, 'PostgreSQL has a health check')
  t.ok(postgres.volumes.some((v: string) => v.startsWith('pgdata:')), 'its data on a named volume')
  t.ok(compose.volumes && 'pgdata' in compose.volumes)
  t.equal(service.deploy.replicas, 2)
  t.same(service.depends_on, { postgres: { condition: 'service_healthy' } }, 'starts once PostgreSQL is ready')
  t.match(service.healthcheck.test.join(' '), /\/health\/ready/)
  t.ok(service.stop_grace_period, 'time for a graceful stop')
})

t.test('each replica gets a configuration the service accepts', async (t) => {
  const env = Object.fromEntries(
    Object.entries(compose.services.service.environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v), dotenv)]),
  )
  const config = loadConfig(env, '/app')
  t.equal(config.databaseUrl, 'postgres://linked_clones:pg-password@postgres:5432/linked_clones', 'the compose PostgreSQL')
  t.equal(config.metrics.port, 9464)
  t.equal(config.jwt.algorithm, 'HS256')
  t.equal(config.vcenter.insecure, false)
  const { SECRETS_KEY: _omitted, ...withoutKey } = dotenv
  t.throws(() => interpolate(compose.services.service.environment.SECRETS_KEY, withoutKey), /SECRETS_KEY/, 'a missing secret stops compose')
})
