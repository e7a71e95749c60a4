/**
 * The key that seals secrets at rest. SECRETS_KEY when set (required with DATABASE_URL: config.ts
 * stops start-up without it). In embedded mode (no DATABASE_URL) a key is generated once into
 * DATA_DIR/secrets.key (mode 0600), beside the embedded PostgreSQL's password, so that the demo and
 * the tests work without setting anything and a restarted service still opens what it sealed.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { SecretsConfig } from '../config/config.js'
import { Keyring, decodeKey, generateKey } from '../domain/secrets.js'

export const KEY_FILE = 'secrets.key'

export async function resolveKeyring(secrets: SecretsConfig, dataDir: string): Promise<{ keyring: Keyring; source: string }> {
  if (secrets.key) return { keyring: Keyring.fromBase64(secrets.key, secrets.previousKeys), source: 'SECRETS_KEY' }
  const file = path.join(dataDir, KEY_FILE)
  const key = await readOrCreateKey(file)
  return { keyring: Keyring.fromBase64(key, secrets.previousKeys), source: file }
}

/**
 * The key in `file`, made first if there is none. Safe when several processes start together: the
 * key is written to a file of its own and linked into place, so a reader never sees a partial key.
 */
export async function readOrCreateKey(file: string): Promise<string> {
  const existing = await readKey(file)
  if (existing) return existing
  await fs.mkdir(path.dirname(file), { recursive: true })
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
  await fs.writeFile(temp, generateKey() + '\n', { mode: 0o600 })
  try {
    await fs.link(temp, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  } finally {
    await fs.rm(temp, { force: true })
  }
  const key = await readKey(file)
  if (!key) throw new Error(`${file} holds no key`)
  return key
}

async function readKey(file: string): Promise<string | undefined> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    decodeKey(text)
  } catch (err) {
    throw new Error(`${file}: the secrets key ${(err as Error).message}`, { cause: err })
  }
  return text.trim()
}
