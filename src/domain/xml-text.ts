/**
 * Which characters XML 1.0 can carry, and so which text vCenter's SOAP API can store. Pure.
 */

// XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
// With the `u` flag a lone surrogate is matched as a code point in the excluded range.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

/** Index of the first character XML 1.0 cannot represent (control chars, lone surrogates, U+FFFE/F), or -1. */
export function findInvalidXmlChar(s: string): number {
  INVALID_XML_CHARS.lastIndex = 0
  const m = INVALID_XML_CHARS.exec(s)
  return m ? m.index : -1
}

/** Removes characters XML 1.0 cannot carry. For callers that prefer sanitizing to an error. */
export function stripInvalidXmlChars(s: string): string {
  return s.replace(INVALID_XML_CHARS, '')
}
