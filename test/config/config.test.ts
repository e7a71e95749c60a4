import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'

const base = {
  VCENTER_URL: 'https://vc.example.com/sdk',
  VCENTER_USERNAME: 'svc',
  VCENTER_PASSWORD: 'pw',
  JWT_SECRET: 'a'.repeat(32),
}

t.test('defaults', async (t) => {
  const config = loadConfig(base, '/srv')
  t.equal(config.port, 3000)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.databaseUrl, undefined)
  t.equal(config.dataDir, '/srv/.data')
  t.equal(config.vcenter.insecure, false)
  t.same(config.jwt, { algorithm: 'HS256', key: 'a'.repeat(32), issuer: undefined, audience: undefined, teamsClaim: 'groups' })
  t.same(config.limits, { perVcenter: 20, perHost: 8, perDatastore: 32 })
})

t.test('each bad setting is named in one line', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ VCENTER_URL: '' }, /VCENTER_URL is required/],
    [{ VCENTER_URL: 'not a url' }, /VCENTER_URL must be a URL/],
    [{ VCENTER_URL: 'ftp://x/sdk' }, /VCENTER_URL must use https/],
    [{ VCENTER_PASSWORD: '' }, /VCENTER_PASSWORD is required/],
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be between/],
    [{ VCENTER_INSECURE: 'yes' }, /VCENTER_INSECURE must be true or false/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET must be at least 32 bytes/],
    [{ JWT_SECRET: '' }, /JWT_SECRET or JWT_PUBLIC_KEY or JWT_JWKS_URL is required/],
    [{ JWT_PUBLIC_KEY: 'garbage' }, /JWT_PUBLIC_KEY and|JWT_SECRET and JWT_PUBLIC_KEY/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with postgres/],
  ]
  for (const [override, message] of cases) {
    t.throws(() => loadConfig({ ...base, ...override }), { name: 'ConfigError', message }, JSON.stringify(override))
  }
})

t.test('a public key pins the algorithm of its type', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const withKey = (key: string) => loadConfig({ ...base, JWT_SECRET: '', JWT_PUBLIC_KEY: key, JWT_ISSUER: 'idp', JWT_AUDIENCE: 'lcs' })
  t.equal(withKey(rsa).jwt.algorithm, 'RS256')
  t.equal(withKey(ec).jwt.algorithm, 'ES256')
  t.equal(withKey(ed).jwt.algorithm, 'EdDSA')
  t.equal(withKey(rsa).jwt.issuer, 'idp')
  t.throws(() => withKey('not a key'), { message: /JWT_PUBLIC_KEY is not a PEM public key/ })
  t.throws(() => loadConfig({ ...base, JWT_SECRET: '', JWT_PUBLIC_KEY: rsa }), { message: /JWT_AUDIENCE is required with JWT_PUBLIC_KEY/ })
  t.throws(() => loadConfig({ ...base, JWT_SECRET: '', JWT_JWKS_URL: 'https://idp.example.com/jwks' }), { message: /JWT_AUDIENCE is required with JWT_JWKS_URL/ })
  t.throws(() => loadConfig({ ...base, JWT_JWKS_URL: 'https://idp.example.com/jwks', JWT_AUDIENCE: 'lcs' }), { message: /JWT_SECRET and JWT_JWKS_URL are both set/ })
  t.equal(loadConfig({ ...base, JWT_MAX_AGE: '30m' }).jwt.maxAgeSeconds, 1800)
  t.throws(() => loadConfig({ ...base, JWT_MAX_AGE: '0' }), { message: /JWT_MAX_AGE must be a duration/ })
})

t.test('the vCenter URL gets /sdk when given bare', async (t) => {
  t.equal(loadConfig({ ...base, VCENTER_URL: 'https://vc.example.com' }).vcenter.url, 'https://vc.example.com/sdk')
})

t.test('read through env-schema: empty is the default, 1/0 are booleans, only digits are numbers; metrics settings', async (t) => {
  const config = loadConfig({ ...base, PORT: '', LOG_LEVEL: '', VCENTER_INSECURE: '1', LIMIT_HOST_OPERATIONS: '4' })
  t.equal(config.port, 3000, 'an empty PORT takes the default')
  t.equal(config.logLevel, 'info')
  t.equal(config.vcenter.insecure, true)
  t.equal(loadConfig({ ...base, VCENTER_INSECURE: '0' }).vcenter.insecure, false)
  t.equal(config.limits.perHost, 4)
  t.same(config.metrics, { port: undefined, token: undefined })
  for (const bad of ['0x10', '1e3', ' 12', '-1']) {
    t.throws(() => loadConfig({ ...base, PORT: bad }), { name: 'ConfigError', message: /PORT must be a whole number/ }, bad)
  }
  t.same(loadConfig({ ...base, METRICS_PORT: '9464', METRICS_TOKEN: 'm'.repeat(32) }).metrics, { port: 9464, token: 'm'.repeat(32) })
  t.throws(() => loadConfig({ ...base, METRICS_PORT: '3000' }), { name: 'ConfigError', message: /METRICS_PORT must differ from PORT/ })
  t.throws(() => loadConfig({ ...base, METRICS_PORT: '0' }), { name: 'ConfigError', message: /METRICS_PORT must be between 1 and 65535/ })
  t.throws(() => loadConfig({ ...base, METRICS_TOKEN: 'short' }), { name: 'ConfigError', message: /METRICS_TOKEN must be at least 32 bytes/ })
})
