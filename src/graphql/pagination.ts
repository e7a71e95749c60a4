/**
 * Cursor pagination (`limit`, `cursor`): page sizes and opaque cursors, as REST's (http/pagination.ts):
 * the same defaults, limits, cursors and refusals, so a script can switch between them. A cursor is the
 * sort key of the last row seen, so a page follows from where the previous one ended (keyset
 * pagination) however many rows were added or removed meanwhile. Pure.
 */
import { ValidationFailed } from '../errors.js'

export const DEFAULT_PAGE_SIZE = 100
/** The largest page: a pool of 1,000 clones in one query. */
export const MAX_PAGE_SIZE = 1000

/** `field`: the argument it came in (`limit`, or the deprecated `first`), named in the refusal. */
export function pageSize(limit: number | null | undefined, field = 'limit'): number {
  const size = limit ?? DEFAULT_PAGE_SIZE
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new ValidationFailed(
      { field, minimum: 1, maximum: MAX_PAGE_SIZE },
      `"${field}" must be between 1 and ${MAX_PAGE_SIZE}, got ${size}`,
    )
  }
  return size
}

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The sort key in a cursor made by encodeCursor with `length` parts; a malformed one is VALIDATION_FAILED. */
export function decodeCursor(cursor: string | null | undefined, length: number, field = 'after'): string[] | undefined {
  if (cursor === null || cursor === undefined) return undefined
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  if (!Array.isArray(key) || key.length !== length || !key.every((part) => typeof part === 'string')) {
    throw new ValidationFailed({ field }, `"${field}" is not a cursor given by this API`)
  }
  return key as string[]
}

export interface Page<T> {
  rows: T[]
  hasNextPage: boolean
}

/** Queries read one row more than asked: its presence says whether there is a next page. */
export function toPage<T>(rows: T[], size: number): Page<T> {
  return { rows: rows.slice(0, size), hasNextPage: rows.length > size }
}

/** Keys compared part by part as text (the order of in-memory lists). */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? ''
    const y = b[i] ?? ''
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * Up to `limit` items of a list held whole in memory (in its given order) after the item whose key is
 * `after`; an item gone since: after the items whose key sorts before it (as REST's pageOfList).
 */
export function sliceAfter<T>(all: readonly T[], limit: number, after: readonly string[] | undefined, keyOf: (item: T) => string[]): T[] {
  let start = 0
  if (after) {
    const at = all.findIndex((item) => compareKeys(keyOf(item), after) === 0)
    start = at >= 0 ? at + 1 : all.findIndex((item) => compareKeys(keyOf(item), after) > 0)
    if (start < 0) start = all.length
  }
  return all.slice(start, start + limit)
}
