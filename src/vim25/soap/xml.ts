// XML writing for vim25 SOAP requests: escaping and serialization of typed JS values.
//
// Every value that ends up in a request goes through escapeText/escapeAttr; nothing is
// concatenated unescaped. The value model (shared with envelope.ts, which parses responses
// into the same shapes so that parsed objects can be sent back unchanged):
//
//   string | number | bigint | boolean | Date   -> element text
//   { type, value }                             -> ManagedObjectReference: <name type="T">value</name>
//   { _type: 'xsd:string', _value: 'x' }        -> typed primitive in an anyType slot:
//                                                  <name xsi:type="xsd:string">x</name>
//   { _type?: 'Foo', a: .., b: .. }             -> data object, children in key insertion order,
//                                                  `_type` becomes xsi:type="Foo"
//   [a, b]                                      -> repeated <name> elements
//   undefined / null                            -> omitted

import { findInvalidXmlChar } from '../../domain/xml-text.js'

// What XML 1.0 can carry is pure domain knowledge (domain/xml-text.ts); re-exported for vim25's callers.
export { findInvalidXmlChar, stripInvalidXmlChars } from '../../domain/xml-text.js'

export interface ManagedObjectReference {
  type: string
  value: string
}

/** A primitive (or enum) value that must carry an xsi:type, e.g. OptionValue.value. */
export interface TypedValue {
  _type: string
  _value: string | number | bigint | boolean | Date
}

export class XmlEncodeError extends Error {
  override name = 'XmlEncodeError'
}

function assertXmlChars(s: string): void {
  const i = findInvalidXmlChar(s)
  if (i >= 0) {
    const code = s.codePointAt(i) ?? 0
    // Never echo the value itself: it may be a password.
    throw new XmlEncodeError(
      `value contains a character XML cannot carry (U+${code.toString(16).toUpperCase().padStart(4, '0')} at index ${i})`,
    )
  }
}

/**
 * Escapes element text. Refuses (throws XmlEncodeError) characters XML 1.0 cannot represent
 * rather than silently changing the value. `\r` is written as a character reference because
 * XML parsers normalize literal CR/CRLF to LF.
 */
export function escapeText(s: string): string {
  assertXmlChars(s)
  return s.replace(/[<>&'"\r]/g, (c) => TEXT_ESCAPES[c]!)
}

/** Escapes an attribute value. Tab/LF/CR are references: attribute-value normalization would turn them into spaces. */
export function escapeAttr(s: string): string {
  assertXmlChars(s)
  return s.replace(/[<>&'"\t\n\r]/g, (c) => TEXT_ESCAPES[c]!)
}

const TEXT_ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  "'": '&apos;',
  '"': '&quot;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
}

const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

function assertName(name: string): void {
  // Element and type names come from our code, never from users; still, refuse anything odd.
  if (!XML_NAME.test(name)) throw new XmlEncodeError(`invalid XML element name: ${JSON.stringify(name)}`)
}

const XSI_TYPE = /^([A-Za-z_][A-Za-z0-9_.-]*:)?[A-Za-z_][A-Za-z0-9_.-]*$/

function xsiTypeAttr(type: string): string {
  if (!XSI_TYPE.test(type)) throw new XmlEncodeError(`invalid xsi:type: ${JSON.stringify(type)}`)
  return ` xsi:type="${type}"`
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * True for `{ type, value }` (optionally with `_type: 'ManagedObjectReference'`). A data object
 * with exactly these two string fields would be ambiguous; vim25 has none we send.
 */
export function isMoRef(v: unknown): v is ManagedObjectReference {
  if (!isPlainObject(v)) return false
  if (typeof v.type !== 'string' || typeof v.value !== 'string') return false
  for (const k of Object.keys(v)) {
    if (k === 'type' || k === 'value') continue
    if (k === '_type' && v._type === 'ManagedObjectReference') continue
    return false
  }
  return true
}

export function isTypedValue(v: unknown): v is TypedValue {
  if (!isPlainObject(v) || typeof v._type !== 'string' || !('_value' in v)) return false
  return Object.keys(v).every((k) => k === '_type' || k === '_value')
}

/** `{ _type: 'xsd:string', _value }`: for anyType slots such as OptionValue.value. */
export function xsdString(value: string): TypedValue {
  return { _type: 'xsd:string', _value: value }
}

function scalarText(v: unknown, where: string): string {
  switch (typeof v) {
    case 'string':
      return escapeText(v)
    case 'boolean':
      return v ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(v)) throw new XmlEncodeError(`${where}: number is not finite`)
      return String(v)
    case 'bigint':
      return v.toString()
    default:
      if (v instanceof Date) {
        if (Number.isNaN(v.getTime())) throw new XmlEncodeError(`${where}: invalid Date`)
        return v.toISOString()
      }
      throw new XmlEncodeError(`${where}: cannot serialize ${typeof v}`)
  }
}

/** Serializes `value` as element(s) named `name` (see the value model at the top of this file). */
export function serializeElement(name: string, value: unknown): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.map((item) => serializeElement(name, item)).join('')
  assertName(name)

  if (typeof value !== 'object' || value instanceof Date) {
    return `<${name}>${scalarText(value, name)}</${name}>`
  }
  if (!isPlainObject(value)) {
    throw new XmlEncodeError(`${name}: cannot serialize ${Object.prototype.toString.call(value)}`)
  }
  if (isMoRef(value)) {
    const typeAttr = value._type === undefined ? '' : xsiTypeAttr('ManagedObjectReference')
    return `<${name}${typeAttr} type="${escapeAttr(value.type)}">${escapeText(value.value)}</${name}>`
  }
  if (isTypedValue(value)) {
    return `<${name}${xsiTypeAttr(value._type)}>${scalarText(value._value, name)}</${name}>`
  }

  let attrs = ''
  let children = ''
  for (const [key, child] of Object.entries(value)) {
    if (key === '_type') {
      if (typeof child !== 'string') throw new XmlEncodeError(`${name}: _type must be a string`)
      attrs = xsiTypeAttr(child)
      continue
    }
    if (key.startsWith('_')) continue // reserved for local annotations, never sent
    children += serializeElement(key, child)
  }
  return `<${name}${attrs}>${children}</${name}>`
}
