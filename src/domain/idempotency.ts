/**
 * Idempotency keys' pure rules: what a valid key is, and the fingerprint that tells a repeat of a
 * request from another request under the same key (method, path with query, and the body with its
 * keys in a fixed order, so that `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request).
 */
import { createHash } from 'node:crypto'

/** 1-255 printable ASCII characters (Stripe allows 255). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/

export function isValidIdempotencyKey(value: string): boolean {
  return VALID_KEY.test(value)
}

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return ''
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export function bodyFingerprint(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('base64url')
}
