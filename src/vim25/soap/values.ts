// Typed accessors over parsed response values (see envelope.ts): the parser keeps every
// scalar as a string, and cannot tell a one-element array from a single value.

import { isMoRef, isTypedValue } from './xml.js'
import type { ManagedObjectReference } from './xml.js'

/** `undefined` -> [], `x` -> [x], `[x, y]` -> [x, y]. */
export function asArray<T>(x: T | readonly T[] | undefined | null): T[] {
  if (x === undefined || x === null) return []
  return Array.isArray(x) ? [...(x as T[])] : [x as T]
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Unwraps the anyType envelopes of a property value: `{ _type: 'xsd:int', _value: '5' }` -> '5',
 * `{ _type: 'ArrayOfString', string: [..] }` -> [..], a typed MoRef -> `{ type, value }`.
 * Data objects are returned as they are (with their `_type`), so they can be sent back.
 */
export function unwrap(v: unknown): unknown {
  if (isTypedValue(v)) return v._value
  if (isMoRef(v)) return { type: v.type, value: v.value }
  if (isObject(v) && typeof v._type === 'string' && v._type.startsWith('ArrayOf')) {
    const key = Object.keys(v).find((k) => k !== '_type')
    return key === undefined ? [] : asArray(v[key]).map(unwrap)
  }
  return v
}

export function str(v: unknown): string | undefined {
  const u = unwrap(v)
  if (u === undefined || u === null) return undefined
  if (typeof u === 'string') return u
  if (typeof u === 'number' || typeof u === 'boolean') return String(u)
  return undefined
}

export function num(v: unknown): number | undefined {
  const s = str(v)
  if (s === undefined || s.trim() === '') return undefined
  const n = Number(s)
  return Number.isFinite(n) ? n : undefined
}

export function bool(v: unknown): boolean | undefined {
  const s = str(v)
  if (s === 'true' || s === '1') return true
  if (s === 'false' || s === '0') return false
  return undefined
}

export function date(v: unknown): Date | undefined {
  const s = str(v)
  if (!s) return undefined
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export function moRef(v: unknown): ManagedObjectReference | undefined {
  return isMoRef(v) ? { type: v.type, value: v.value } : undefined
}

/** Like moRef() but throws: for results the API guarantees. */
export function requireMoRef(v: unknown, what: string): ManagedObjectReference {
  const ref = moRef(v)
  if (!ref) throw new TypeError(`expected a ManagedObjectReference for ${what}`)
  return ref
}
