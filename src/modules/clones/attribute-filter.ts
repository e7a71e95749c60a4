/**
 * `GET /v1/clones?attribute=Project:Training%202010`: a query by an attribute's value, written
 * `name:value`. The first colon separates the two, so a value may contain colons freely
 * (`Logon Time:10:30` is Logon Time = "10:30"). A colon inside the name is written `\:` and a
 * backslash in the name `\\`; the value is taken as it is. Pure.
 */
import type { AttributeValue } from '../../domain/attributes.js'

export class AttributeFilterError extends Error {}

export function parseAttributeFilter(text: string): AttributeValue {
  let name = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && (text[i + 1] === ':' || text[i + 1] === '\\')) {
      name += text[++i]
    } else if (c === ':') {
      if (name.trim() === '') throw new AttributeFilterError('attribute must have a name before its colon')
      return { name, value: text.slice(i + 1) }
    } else {
      name += c
    }
  }
  // The text is not echoed: it may hold a secret typed in the wrong place.
  throw new AttributeFilterError('attribute must be name:value (a colon inside the name is written \\:)')
}

/** How to write a filter for a name and value (the inverse of parseAttributeFilter). */
export function formatAttributeFilter({ name, value }: AttributeValue): string {
  return `${name.replace(/[\\:]/g, (c) => `\\${c}`)}:${value}`
}
