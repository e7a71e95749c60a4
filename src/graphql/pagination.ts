/**
 * Cursor pagination (`first`, `after`): page sizes and opaque cursors. A cursor is the sort key of the
 * last row seen, so a page follows from where the previous one ended (keyset pagination) however many
 * rows were added or removed meanwhile. Pure.
 */
import { ValidationFailed } from '../errors.js'

export const DEFAULT_PAGE_SIZE = 100
/** The largest page: a pool of 1,000 clones in one query. */
export const MAX_PAGE_SIZE = 1000

export function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new ValidationFailed(
      { field: 'first', minimum: 1, maximum: MAX_PAGE_SIZE },
      `"first" must be between 1 and ${MAX_PAGE_SIZE}, got ${size}`,
    )
  }
  return size
}

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The sort key in a cursor made by encodeCursor with `length` parts; a malformed one is VALIDATION_FAILED. */
export function decodeCursor(cursor: string | null | undefined, length: number): string[] | undefined {
  if (cursor === null || cursor === undefined) return undefined
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  if (!Array.isArray(key) || key.length !== length || !key.every((part) => typeof part === 'string')) {
    throw new ValidationFailed({ field: 'after' }, '"after" is not a cursor given by this API')
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
