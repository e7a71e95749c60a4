/**
 * Cursor pagination of every REST list, one way: `limit` (default 100, at most 1,000) and `cursor`
 * (the `nextCursor` of the page before) in the query; the page answers `nextCursor` (null on the last
 * page) and, when there is a next page, a `Link: <...>; rel="next"` header naming it. A cursor is the
 * sort key of the last item shown (keyset: the next page starts after it, whatever was added or
 * removed meanwhile), opaque to clients (base64url of JSON). Lists read one item more than the limit:
 * its presence says there is a next page.
 */
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ValidationFailed } from '../errors.js'
import { Nullable } from './common-schemas.js'

export const DEFAULT_LIMIT = 100
export const MAX_LIMIT = 1000

/** The query parameters of a paged list; spread into the route's querystring schema. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT, description: 'Items in the page' })),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 1000, pattern: '^[A-Za-z0-9_-]+$', description: "The page before's nextCursor: the items after it" }),
  ),
}

/** The answer's `nextCursor`. */
export const NextCursor = Nullable(Type.String({ description: 'The next page (pass it as `cursor`); null on the last' }))

/** The Link header of a paged answer, documented on the route's 200. */
export const pageHeaders = {
  Link: Type.String({ description: 'The next page: `<path?cursor=...>; rel="next"`; absent on the last page' }),
}

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The sort key in a cursor of `length` parts; one this API did not give is 400 VALIDATION_FAILED. */
export function decodeCursor(cursor: string | undefined, length: number): (string | number)[] | undefined {
  if (cursor === undefined) return undefined
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  if (!Array.isArray(key) || key.length !== length || !key.every((part) => typeof part === 'string' || typeof part === 'number')) {
    throw new ValidationFailed({ field: 'cursor' }, '"cursor" is not a cursor given by this API')
  }
  return key as (string | number)[]
}

export interface Paged<T> {
  items: T[]
  nextCursor: string | null
}

/** A page from rows read with one more than `limit`: the cursor is the last shown row's key. */
export function pageFrom<T>(rows: T[], limit: number, keyOf: (row: T) => (string | number)[]): Paged<T> {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null }
}

/**
 * A page of a list held whole in memory (short lists: pools, a parent's preparations and snapshots),
 * in its given order; the cursor is the last item's key, so the next page starts after that item.
 */
export function pageOfList<T>(all: T[], query: { limit?: number; cursor?: string }, keyOf: (item: T) => string): Paged<T> {
  const limit = query.limit ?? DEFAULT_LIMIT
  const after = decodeCursor(query.cursor, 1)?.[0]
  let start = 0
  if (after !== undefined) {
    const at = all.findIndex((item) => keyOf(item) === after)
    // The item is gone since: start after the items that sorted before it (keys compared as text).
    start = at >= 0 ? at + 1 : all.findIndex((item) => keyOf(item) > String(after))
    if (start < 0) start = all.length
  }
  return pageFrom(all.slice(start, start + limit + 1), limit, (item) => [keyOf(item)])
}

/** Sets `Link: <this path with cursor=next>; rel="next"` when there is a next page. */
export function linkNext(request: FastifyRequest, reply: FastifyReply, nextCursor: string | null): void {
  if (nextCursor === null) return
  const url = new URL(request.url, 'http://service.invalid')
  url.searchParams.set('cursor', nextCursor)
  reply.header('link', `<${url.pathname}${url.search}>; rel="next"`)
}
