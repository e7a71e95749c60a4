import { randomBytes } from 'node:crypto'
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { Keyring, SecretKeyMissing, decodeKey, generateKey, keyIdOf, secretPolicy } from '../../src/domain/secrets.js'

const context = { recordId: '7d1f0c56-2f7a-4c0a-9d55-3f0d2b1e9a10', name: 'Logon Administrator Password' }

t.test('sealed values open with their record and name only', async (t) => {
  const keyring = Keyring.fromBase64(generateKey())
  const sealed = keyring.seal('S3cret<&> Ünïcødé', context)
  t.equal(sealed.keyId, keyring.currentKeyId)
  t.notMatch(sealed.sealed, /S3cret/)
  t.not(keyring.seal('S3cret<&> Ünïcødé', context).sealed, sealed.sealed, 'a fresh IV each time')
  t.equal(keyring.open(sealed, context), 'S3cret<&> Ünïcødé')
  t.throws(() => keyring.open(sealed, { ...context, recordId: randomBytes(16).toString('hex') }), /does not open/, 'another record')
  t.throws(() => keyring.open(sealed, { ...context, name: 'Logon User Password' }), /does not open/, 'another attribute')
  t.throws(() => keyring.open(sealed, { ...context, role: 'old' }), /does not open/, 'another role')
  const raw = Buffer.from(sealed.sealed, 'base64url')
  raw[14] = raw[14]! ^ 1
  t.throws(() => keyring.open({ ...sealed, sealed: raw.toString('base64url') }, context), /does not open/, 'an altered ciphertext')
  t.equal(keyring.open(keyring.seal('', context), context), '', 'empty values too')
})

t.test('rotation: the previous key still opens what it sealed; an unknown key is named', async (t) => {
  const [oldKey, newKey] = [generateKey(), generateKey()]
  const before = Keyring.fromBase64(oldKey)
  const sealed = before.seal('Tr4inee!', context)
  const after = Keyring.fromBase64(newKey, [oldKey])
  t.equal(after.open(sealed, context), 'Tr4inee!')
  t.ok(after.isStale(sealed.keyId))
  t.notOk(after.isStale(after.seal('x', context).keyId))
  const err = t.throws(() => Keyring.fromBase64(newKey).open(sealed, context)) as SecretKeyMissing
  t.type(err, SecretKeyMissing)
  t.equal(err.keyId, keyIdOf(decodeKey(oldKey)))
  t.match(err.message, /SECRETS_KEY_PREVIOUS/)
})

t.test('keys: 32 bytes of base64 or base64url, never echoed', async (t) => {
  const key = randomBytes(32)
  t.same(decodeKey(key.toString('base64')), key)
  t.same(decodeKey(key.toString('base64url')), key)
  t.throws(() => decodeKey(randomBytes(16).toString('base64')), /must be 32 bytes in base64, got 16 bytes/)
  t.throws(() => decodeKey('not base64!'), /must be base64/)
  t.equal(keyIdOf(key).length, 16)
  t.equal(keyIdOf(key), keyIdOf(Buffer.from(key)))
})

t.test('secret attributes: names containing a pattern, case-insensitive', async (t) => {
  const isSecret = secretPolicy()
  t.ok(isSecret('Logon Administrator Password'))
  t.ok(isSecret('PASSWORD'))
  t.notOk(isSecret('Logon User Name'))
  const custom = secretPolicy(['pin', 'Passphrase'])
  t.ok(custom('Door PIN'))
  t.ok(custom('Wifi passphrase'))
  t.notOk(custom('Logon User Password'))
})

t.test('configuration: SECRETS_KEY', async (t) => {
  const base = { VCENTER_URL: 'https://vc.example.com/sdk', VCENTER_USERNAME: 'svc', VCENTER_PASSWORD: 'pw', JWT_SECRET: 'a'.repeat(32) }
  const embedded = loadConfig(base)
  t.same(embedded.secrets, { key: undefined, previousKeys: [], attributePatterns: ['Password'] }, 'embedded mode: a key is kept in DATA_DIR')
  t.equal(embedded.attributeSyncMinutes, 15)
  t.throws(() => loadConfig({ ...base, DATABASE_URL: 'postgres://db/x' }), {
    name: 'ConfigError',
    message: /^Invalid configuration: SECRETS_KEY is required when DATABASE_URL is set/,
  })
  const key = generateKey()
  const withKey = loadConfig({ ...base, DATABASE_URL: 'postgres://db/x', SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: `${generateKey()}, ${generateKey()}`, SECRET_ATTRIBUTES: 'Password, PIN' })
  t.equal(withKey.secrets.key, key)
  t.equal(withKey.secrets.previousKeys.length, 2)
  t.same(withKey.secrets.attributePatterns, ['Password', 'PIN'])
  const bad = 'c2hvcnQ='
  const err = t.throws(() => loadConfig({ ...base, SECRETS_KEY: bad })) as Error
  t.match(err.message, /SECRETS_KEY must be 32 bytes in base64, got 5 bytes/)
  t.notMatch(err.message, bad, 'the key is not echoed')
  t.throws(() => loadConfig({ ...base, SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: 'nope!' }), /SECRETS_KEY_PREVIOUS must be base64/)
  t.throws(() => loadConfig({ ...base, ATTRIBUTE_SYNC_MINUTES: '61' }), /ATTRIBUTE_SYNC_MINUTES must be between 0 and 60/)
})
