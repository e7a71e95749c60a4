// SOAP 1.1 envelopes for vim25: building requests and parsing responses.
//
// Responses are parsed into the value model of xml.ts so that what we read can be sent back:
//   - xsi:type="Foo"           -> `_type: 'Foo'` (first key of the object)
//   - <x type="VirtualMachine">vm-1</x>   -> `{ type, value }` (a ManagedObjectReference)
//   - <x xsi:type="xsd:int">5</x>         -> `{ _type: 'xsd:int', _value: '5' }`
//   - children keep document order (= WSDL sequence order), repeated elements become arrays
//   - all text stays a string: typed accessors (values.ts) convert numbers, booleans and dates.
// XML cannot tell a one-element array from a single value: use asArray() where arrays are expected.

import { XMLParser } from 'fast-xml-parser'
import { serializeElement } from './xml.js'
import type { ManagedObjectReference } from './xml.js'

export const VIM25_NAMESPACE = 'urn:vim25'

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
  ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"' +
  ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
  '<soapenv:Body>'
const ENVELOPE_CLOSE = '</soapenv:Body></soapenv:Envelope>'

/**
 * Request body of a vim25 operation. Keys are the operation's parameters in WSDL order,
 * starting with `_this` (the managed object the method is invoked on).
 */
export interface RequestBody {
  _this: ManagedObjectReference
  [param: string]: unknown
}

/** Builds the SOAP envelope for `method` with its parameters (emitted in key order). */
export function buildRequest(method: string, body: RequestBody): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(method)) throw new Error(`invalid method name: ${method}`)
  let params = serializeElement('_this', { type: body._this.type, value: body._this.value })
  for (const [key, value] of Object.entries(body)) {
    if (key === '_this') continue
    params += serializeElement(key, value)
  }
  return `${ENVELOPE_OPEN}<${method} xmlns="${VIM25_NAMESPACE}">${params}</${method}>${ENVELOPE_CLOSE}`
}

/** A SOAP Fault as it came over the wire. */
export interface SoapFaultBody {
  faultCode: string
  faultString: string
  /** The fault type: the detail's xsi:type (or its element name without the `Fault` suffix). */
  faultType: string | undefined
  /** The parsed fault detail object (e.g. `{ _type: 'DuplicateName', name, object }`). */
  detail: Record<string, unknown> | undefined
}

export type ParsedResponse =
  | { kind: 'result'; method: string | undefined; returnval: unknown }
  | { kind: 'fault'; fault: SoapFaultBody }

export class SoapParseError extends Error {
  override name = 'SoapParseError'
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  cdataPropName: '#cdata',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Entities are decoded by decodeEntities() below in one pass, with exact XML semantics
  // (predefined entities and numeric references only; no DOCTYPE expansion).
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: false,
})

const ENTITY = /&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(lt|gt|amp|quot|apos));/g
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s
  return s.replace(ENTITY, (whole, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (name) return NAMED[name]!
    const code = hex ? parseInt(hex, 16) : parseInt(dec!, 10)
    try {
      return String.fromCodePoint(code)
    } catch {
      return whole
    }
  })
}

function localName(key: string): string {
  const i = key.indexOf(':')
  return i < 0 ? key : key.slice(i + 1)
}

type RawNode = string | RawElement
interface RawElement {
  [key: string]: RawNode | RawNode[]
}

function nodeText(el: RawElement): string {
  let text = ''
  const t = el['#text']
  if (typeof t === 'string') text += decodeEntities(t)
  const c = el['#cdata']
  if (typeof c === 'string') text += c
  else if (Array.isArray(c)) text += c.join('')
  return text
}

/** Converts a fast-xml-parser node into the value model described at the top of this file. */
function normalize(node: RawNode): unknown {
  if (typeof node === 'string') return decodeEntities(node)

  let xsiType: string | undefined
  let moType: string | undefined
  const children: string[] = []
  for (const key of Object.keys(node)) {
    if (key.startsWith('@_')) {
      const attr = key.slice(2)
      const value = node[key]
      if (typeof value !== 'string') continue
      if (attr === 'type') moType = decodeEntities(value)
      else if (attr.endsWith(':type') && !attr.startsWith('xmlns')) xsiType = decodeEntities(value)
      continue // xmlns declarations and other attributes carry no data in vim25
    }
    if (key === '#text' || key === '#cdata') continue
    children.push(key)
  }

  if (children.length === 0) {
    const text = nodeText(node)
    if (moType !== undefined) {
      return xsiType === undefined ? { type: moType, value: text } : { _type: xsiType, type: moType, value: text }
    }
    if (xsiType === undefined) return text
    // A primitive/enum with its type (xsd:string, xsd:int, VirtualMachinePowerState, ...) or an
    // empty data object (e.g. <options xsi:type="CustomizationLinuxOptions"/>).
    if (xsiType.startsWith('xsd:') || text !== '') return { _type: xsiType, _value: text }
    return { _type: xsiType }
  }

  const out: Record<string, unknown> = {}
  if (xsiType !== undefined) out._type = xsiType
  for (const key of children) {
    const value = node[key]!
    out[localName(key)] = Array.isArray(value) ? value.map(normalize) : normalize(value)
  }
  return out
}

function findChild(el: RawElement, name: string): RawNode | undefined {
  for (const key of Object.keys(el)) {
    if (key.startsWith('@_') || key.startsWith('#')) continue
    if (localName(key) === name) {
      const v = el[key]!
      return Array.isArray(v) ? v[0] : v
    }
  }
  return undefined
}

/** Parses any XML document into the value model (root element name -> value). Exported for tests. */
export function parseXml(xml: string): Record<string, unknown> {
  let raw: unknown
  try {
    raw = parser.parse(xml, true)
  } catch (err) {
    throw new SoapParseError(`malformed XML: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null) throw new SoapParseError('malformed XML')
  return normalize(raw as RawElement) as Record<string, unknown>
}

/**
 * Parses a response envelope: either `<MethodResponse><returnval>..` (returnval may be absent for
 * void methods, or repeated for array results) or a `<Fault>`.
 */
export function parseResponse(xml: string): ParsedResponse {
  let raw: unknown
  try {
    raw = parser.parse(xml, true)
  } catch (err) {
    throw new SoapParseError(`malformed SOAP response: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null) throw new SoapParseError('empty SOAP response')
  const envelope = findChild(raw as RawElement, 'Envelope')
  const body = typeof envelope === 'object' ? findChild(envelope, 'Body') : undefined
  if (body === undefined || typeof body === 'string') {
    throw new SoapParseError('not a SOAP envelope')
  }

  const fault = findChild(body, 'Fault')
  if (fault !== undefined) return { kind: 'fault', fault: parseFault(fault) }

  const responseKey = Object.keys(body).find((k) => !k.startsWith('@_') && !k.startsWith('#'))
  if (responseKey === undefined) return { kind: 'result', method: undefined, returnval: undefined }
  const responseEl = body[responseKey]
  const response = Array.isArray(responseEl) ? responseEl[0] : responseEl
  const name = localName(responseKey)
  const method = name.endsWith('Response') ? name.slice(0, -'Response'.length) : name
  if (response === undefined || typeof response === 'string') return { kind: 'result', method, returnval: undefined }
  const returnval = response['returnval']
  if (returnval === undefined) return { kind: 'result', method, returnval: undefined }
  return {
    kind: 'result',
    method,
    returnval: Array.isArray(returnval) ? returnval.map(normalize) : normalize(returnval),
  }
}

function parseFault(node: RawNode): SoapFaultBody {
  if (typeof node === 'string') {
    return { faultCode: '', faultString: decodeEntities(node), faultType: undefined, detail: undefined }
  }
  const text = (name: string): string => {
    const n = findChild(node, name)
    if (n === undefined) return ''
    return typeof n === 'string' ? decodeEntities(n) : nodeText(n)
  }
  let faultType: string | undefined
  let detail: Record<string, unknown> | undefined
  const detailNode = findChild(node, 'detail')
  if (detailNode !== undefined && typeof detailNode !== 'string') {
    const key = Object.keys(detailNode).find((k) => !k.startsWith('@_') && !k.startsWith('#'))
    if (key !== undefined) {
      const el = detailNode[key]!
      const first = Array.isArray(el) ? el[0]! : el
      const parsed = normalize(first)
      const elementType = localName(key).replace(/Fault$/, '')
      if (typeof parsed === 'object' && parsed !== null) {
        detail = parsed as Record<string, unknown>
        if (detail._type === undefined) detail = { _type: elementType, ...detail }
      } else {
        detail = { _type: elementType }
      }
      faultType = String(detail._type)
    }
  }
  return { faultCode: localName(text('faultcode')), faultString: text('faultstring'), faultType, detail }
}
