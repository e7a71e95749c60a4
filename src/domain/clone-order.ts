/**
 * The order of every clone list: by the clone's number within its prefix (Capture2 before Capture10;
 * Capture01 beside Capture1), then by name and id (a failed clone shares a live one's name). The
 * prefix and number are computed by PostgreSQL (clones.name_prefix, clones.name_number, see
 * migrations/0019); a page's cursor holds the last clone's key. Pure.
 */
import { isUuid } from './ids.js'

export interface CloneListKey {
  prefix: string
  /** Null for a name without trailing digits (or with more than 9): after the numbered ones. */
  number: number | null
  name: string
  id: string
}

/**
 * Clones a deployment's representation shows (the first, in this order: by number); the rest are read
 * from its `clonesNextCursor` with GET /v1/clones?deployment=ID.
 */
export const DEPLOYMENT_CLONES_SHOWN = 100

/** Parts of a cursor's key (all strings, as GraphQL's cursors hold). */
export const CLONE_CURSOR_PARTS = 4

/** A clone's key as its page's cursor holds it. */
export function cloneCursorKey(c: { namePrefix: string; nameNumber: number | null; name: string; id: string }): string[] {
  return [c.namePrefix, c.nameNumber === null ? '' : String(c.nameNumber), c.name, c.id]
}

/** The key in a decoded cursor, or undefined when these parts are not one cloneCursorKey made. */
export function parseCloneCursorKey(parts: readonly (string | number)[] | undefined): CloneListKey | undefined {
  if (parts?.length !== CLONE_CURSOR_PARTS || !parts.every((p) => typeof p === 'string')) return undefined
  const [prefix, numberText, name, id] = parts as string[]
  if (!/^(\d{1,9})?$/.test(numberText!) || !isUuid(id!) || !name!.startsWith(prefix!)) return undefined
  return { prefix: prefix!, number: numberText === '' ? null : Number(numberText), name: name!, id: id! }
}

/** A row's key (its generated columns), as the cursor holds it. */
export function cloneListKey(c: { namePrefix: string; nameNumber: number | null; name: string; id: string }): CloneListKey {
  return { prefix: c.namePrefix, number: c.nameNumber, name: c.name, id: c.id }
}

/**
 * The list order for clones held in memory, as the SQL lists sort them: prefix (collation "C": code
 * units), then number (none last), then name and id. Capture2 before Capture10, as in every list.
 */
export function compareCloneListKeys(a: CloneListKey, b: CloneListKey): number {
  const byText = (x: string, y: string) => (x === y ? 0 : x < y ? -1 : 1)
  if (a.prefix !== b.prefix) return byText(a.prefix, b.prefix)
  if (a.number !== b.number) {
    if (a.number === null) return 1
    if (b.number === null) return -1
    return a.number - b.number
  }
  return byText(a.name, b.name) || byText(a.id, b.id)
}

/** The prefix every name starting with `text` has (its trailing digits dropped), for an index range. */
export function namePrefixOf(text: string): string {
  return text.replace(/[0-9]+$/, '')
}
