/**
 * Tokens from an identity provider's JWKS (JWT_JWKS_URL), served here by a local HTTP server: the
 * token's `kid` picks the key (RS256, ES256, EdDSA), a `kid` the provider does not list is refused,
 * a rotated key (the provider serves a new one) is fetched when a token names it; the audience and
 * issuer are checked, JWT_MAX_AGE refuses an old `iat`, and no answer or log line echoes the token.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { appWithLogs, startTestService, type TestService } from '../helpers/service.js'
import { listen, WsClient } from '../helpers/graphql.js'

interface Key {
  kid: string
  alg: 'RS256' | 'ES256' | 'EdDSA'
  privateKey: KeyObject
  jwk: Record<string, unknown>
}

function makeKey(kid: string, alg: Key['alg']): Key {
  const pair =
    alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } }
}

const AUDIENCE = 'linked-clones'
const ISSUER = 'https://idp.example.test/'
const rsa = makeKey('rsa-1', 'RS256')
const ec = makeKey('ec-1', 'ES256')
const rotated = makeKey('ed-2', 'EdDSA')
const stranger = makeKey('rsa-1', 'RS256') // the same kid as a served key, another key

let served: Key[] = [rsa, ec]
let fetches = 0
let jwks: http.Server
let jwksUrl: string
let service: TestService
let app: FastifyInstance
let lines: string[]
const issued: string[] = []

function sign(key: Key, claims: Record<string, unknown> = {}, options: { kid?: string | null; expiresIn?: number } = {}): string {
  const signer = createSigner({
    key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    algorithm: key.alg,
    ...(options.kid === null ? {} : { kid: options.kid ?? key.kid }),
    expiresIn: options.expiresIn ?? 600_000,
  })
  const token = signer({ sub: 'idp-user', scope: 'deployments:read', aud: AUDIENCE, iss: ISSUER, ...claims })
  issued.push(token)
  return token
}

const list = (target: FastifyInstance, token: string) =>
  target.inject({ url: '/v1/deployments', headers: { authorization: `Bearer ${token}` } })

t.before(async () => {
  jwks = http.createServer((req, res) => {
    if (req.url !== '/realms/test/certs') return void res.writeHead(404).end()
    fetches++
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served.map((k) => k.jwk) }))
  })
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/realms/test/certs`
  service = await startTestService({ runWorkers: false })
  ;({ app, lines } = await appWithLogs(service, t, {
    env: { JWT_SECRET: '', JWT_JWKS_URL: jwksUrl, JWT_AUDIENCE: AUDIENCE, JWT_ISSUER: ISSUER },
  }))
})
t.teardown(async () => {
  await service?.stop()
  jwks?.close()
})

t.test('a token whose kid the provider lists is accepted, its key cached', async (t) => {
  const res = await list(app, sign(rsa))
  t.equal(res.statusCode, 200, res.body)
  const after = fetches
  t.equal((await list(app, sign(rsa, { sub: 'someone-else' }))).statusCode, 200)
  t.equal(fetches, after, 'the second token with the same kid needs no fetch')
  t.equal((await list(app, sign(ec))).statusCode, 200, 'an ES256 key of the set too')
})

t.test('a token without a kid, or with a kid the provider does not list, is refused', async (t) => {
  const noKid = await list(app, sign(rsa, {}, { kid: null }))
  t.equal(noKid.statusCode, 401)
  t.equal(noKid.json().code, 'UNAUTHORIZED')
  t.match(noKid.json().message, /kid/)
  const before = fetches
  const unknown = await list(app, sign(rsa, {}, { kid: 'no-such-key' }))
  t.equal(unknown.statusCode, 401)
  t.match(unknown.json().message, /names no key/)
  t.ok(fetches > before, 'an unknown kid makes the set be read again')
  const forged = await list(app, sign(stranger))
  t.equal(forged.statusCode, 401, "another key under a listed kid: the signature does not verify")
})

t.test('a rotated key is fetched when a token names it', async (t) => {
  const token = sign(rotated)
  t.equal((await list(app, token)).statusCode, 401, 'not served yet')
  served = [rotated, rsa]
  const before = fetches
  const res = await list(app, sign(rotated))
  t.equal(res.statusCode, 200, res.body)
  t.ok(fetches > before, 'fetched again')
})

t.test('the audience, the issuer and the algorithm are checked', async (t) => {
  const audience = await list(app, sign(rsa, { aud: 'another-service' }))
  t.equal(audience.statusCode, 401)
  t.match(audience.json().message, /audience/)
  const issuer = await list(app, sign(rsa, { iss: 'https://evil.example.test/' }))
  t.equal(issuer.statusCode, 401)
  t.match(issuer.json().message, /issued by another party/)
  // An HS256 token naming a served kid (the public key as an HMAC secret: the classic confusion).
  const hs = createSigner({ key: 'x'.repeat(32), algorithm: 'HS256', kid: rsa.kid, expiresIn: 60_000 })({ sub: 'a', aud: AUDIENCE, iss: ISSUER })
  issued.push(hs)
  const confused = await list(app, hs)
  t.equal(confused.statusCode, 401)
  t.match(confused.json().message, /algorithm/)
})

t.test('a WebSocket authenticates with a JWKS token too', async (t) => {
  const url = await listen(app)
  const client = await WsClient.connect(url)
  t.teardown(() => client.socket.close())
  client.send({ type: 'connection_init', payload: { authorization: `Bearer ${sign(rsa)}` } })
  await client.until((m) => m.some((x) => x.type === 'connection_ack'), 10_000)
  const refused = await WsClient.connect(url)
  refused.send({ type: 'connection_init', payload: { authorization: `Bearer ${sign(rsa, {}, { kid: 'no-such-key' })}` } })
  await refused.untilClosed(10_000)
  t.notOk(refused.messages.some((m) => m.type === 'connection_ack'), 'an unknown kid is not acknowledged')
})

t.test('JWT_MAX_AGE refuses a token issued longer ago, and one without iat', async (t) => {
  const { app: aged } = await appWithLogs(service, t, {
    env: { JWT_SECRET: '', JWT_JWKS_URL: jwksUrl, JWT_AUDIENCE: AUDIENCE, JWT_MAX_AGE: '1h' },
    logLevel: 'silent',
  })
  t.equal((await list(aged, sign(rsa))).statusCode, 200, 'a fresh token')
  const twoHoursAgo = Math.floor(Date.now() / 1000) - 7200
  const old = await list(aged, sign(rsa, { iat: twoHoursAgo }, { expiresIn: 3 * 3600_000 }))
  t.equal(old.statusCode, 401)
  t.match(old.json().message, /too long ago/)
  const noIat = createSigner({ key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256', kid: rsa.kid, noTimestamp: true })
  const token = noIat({ sub: 'a', aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })
  issued.push(token)
  const missing = await list(aged, token)
  t.equal(missing.statusCode, 401)
  t.match(missing.json().message, /iat/)
})

t.test('JWT_AUDIENCE is required with JWT_JWKS_URL or JWT_PUBLIC_KEY; exactly one key setting', async (t) => {
  const base = { VCENTER_URL: 'https://vc.example.com/sdk', VCENTER_USERNAME: 'u', VCENTER_PASSWORD: 'p' }
  t.throws(() => loadConfig({ ...base, JWT_JWKS_URL: jwksUrl }), { name: 'ConfigError', setting: 'JWT_AUDIENCE', message: /JWT_AUDIENCE is required with JWT_JWKS_URL/ })
  const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  t.throws(() => loadConfig({ ...base, JWT_PUBLIC_KEY: pem }), { message: /JWT_AUDIENCE is required with JWT_PUBLIC_KEY/ })
  t.throws(() => loadConfig({ ...base, JWT_SECRET: 'a'.repeat(32), JWT_JWKS_URL: jwksUrl, JWT_AUDIENCE: AUDIENCE }), { message: /set exactly one/ })
  t.throws(() => loadConfig({ ...base, JWT_JWKS_URL: 'not a url', JWT_AUDIENCE: AUDIENCE }), { message: /JWT_JWKS_URL must be a URL/ })
  t.throws(() => loadConfig({ ...base, JWT_SECRET: 'a'.repeat(32), JWT_MAX_AGE: 'soon' }), { message: /JWT_MAX_AGE must be a duration/ })
  t.match(loadConfig({ ...base, JWT_JWKS_URL: jwksUrl, JWT_AUDIENCE: AUDIENCE, JWT_MAX_AGE: '1h' }).jwt, { jwksUrl, audience: AUDIENCE, maxAgeSeconds: 3600 })
})

t.test('no answer and no log line echoes a token', async (t) => {
  const text = lines.join('\n')
  for (const token of issued) t.notOk(text.includes(token) || text.includes(token.split('.')[2]!), 'not in the log')
  const res = await list(app, issued.at(-1)!)
  t.notOk(res.body.includes(issued.at(-1)!.split('.')[2]!), 'not in the answer')
})
