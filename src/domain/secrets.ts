/**
 * Secrets at rest: which attributes are secret, and sealing their values with AES-256-GCM.
 *
 * A sealed value is `base64url(iv | ciphertext | tag)` with a fresh 96-bit IV, stored beside the id of
 * the key that sealed it. The record's id and the attribute's name (and, in a history entry, whether
 * it is the old or the new value) are bound as associated data: a ciphertext copied to another record
 * or attribute does not open. Key ids are fingerprints of the keys, so rotating is a matter of setting
 * the new SECRETS_KEY and moving the old one to SECRETS_KEY_PREVIOUS: values sealed with either open,
 * and the service re-seals old ones with the current key at start-up.
 *
 * Pure apart from the random IVs: no I/O, no logging (a value or a key never reaches a log).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

export const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const ALGORITHM = 'aes-256-gcm'

/** Attribute names containing any of these (case-insensitive) are secret by default. */
export const DEFAULT_SECRET_PATTERNS: readonly string[] = ['Password']

/** What `name` is matched against: a secret is an attribute whose name contains a pattern. */
export function secretPolicy(patterns: readonly string[] = DEFAULT_SECRET_PATTERNS): (name: string) => boolean {
  const lowered = patterns.map((p) => p.toLowerCase()).filter((p) => p !== '')
  return (name) => {
    const n = name.toLowerCase()
    return lowered.some((p) => n.includes(p))
  }
}

/**
 * A key from its base64 (or base64url) text; throws an Error saying what is wrong, never echoing it.
 */
export function decodeKey(text: string): Buffer {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error('must be base64 (openssl rand -base64 32)')
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  if (key.length !== KEY_BYTES) throw new Error(`must be ${KEY_BYTES} bytes in base64, got ${key.length} bytes`)
  return key
}

export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64')
}

/** A short, stable id of a key (a fingerprint): stored with each sealed value. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('linked-clone-service secrets key\0').update(key).digest('hex').slice(0, 16)
}

/** Where a sealed value belongs: bound to it as associated data. */
export interface SealContext {
  /** The id of the row holding the value. */
  recordId: string
  name: string
  /** Distinguishes several values of one record (a history entry's old and new value). */
  role?: string
}

export interface Sealed {
  keyId: string
  sealed: string
}

export class SecretKeyMissing extends Error {
  constructor(readonly keyId: string) {
    super(`a secret was sealed with key ${keyId}, which is neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS`)
    this.name = 'SecretKeyMissing'
  }
}

/** The current key (seals) and previous ones (still open what they sealed). */
export class Keyring {
  readonly currentKeyId: string
  private readonly keys = new Map<string, Buffer>()

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    this.currentKeyId = keyIdOf(current)
    this.keys.set(this.currentKeyId, current)
    for (const key of previous) if (!this.keys.has(keyIdOf(key))) this.keys.set(keyIdOf(key), key)
  }

  static fromBase64(current: string, previous: readonly string[] = []): Keyring {
    return new Keyring(decodeKey(current), previous.map(decodeKey))
  }

  seal(plaintext: string, context: SealContext): Sealed {
    const key = this.keys.get(this.currentKeyId)!
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(associatedData(context))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return { keyId: this.currentKeyId, sealed: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url') }
  }

  /** Throws SecretKeyMissing for an unknown key, and an Error when the value or its context was altered. */
  open(value: Sealed, context: SealContext): string {
    const key = this.keys.get(value.keyId)
    if (!key) throw new SecretKeyMissing(value.keyId)
    const raw = Buffer.from(value.sealed, 'base64url')
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('a sealed value is truncated')
    const decipher = createDecipheriv(ALGORITHM, key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(associatedData(context))
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      throw new Error(`a sealed value of "${context.name}" does not open: altered, or moved from another record`)
    }
  }

  /** True when a value sealed with this key should be re-sealed with the current one. */
  isStale(keyId: string): boolean {
    return keyId !== this.currentKeyId
  }
}

function associatedData({ recordId, name, role }: SealContext): Buffer {
  // JSON of an array: unambiguous whatever the id and name contain.
  return Buffer.from(JSON.stringify(['linked-clone-service/v1', recordId, name, role ?? '']), 'utf8')
}
