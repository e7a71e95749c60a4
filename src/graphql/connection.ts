/**
 * Cursor-paginated lists as GraphQL connections, paged as REST's lists are: `limit` (default 100, at
 * most 1,000) and `cursor` (the page before's `nextCursor`), answering `nextCursor` (null on the last
 * page) and `nodes`, plus Relay's edges/pageInfo/totalCount. Cursors are those of the REST endpoint of
 * the same list. `first`/`after` stay as deprecated aliases (they win when given). Keyset: one row
 * more than asked tells whether a next page exists. Every paginated field goes through paginate(), so
 * sizes, cursors and their refusals (VALIDATION_FAILED, as REST's) are the same everywhere.
 */
import { DEFAULT_PAGE_SIZE, decodeCursor, encodeCursor, pageSize, sliceAfter, toPage } from './pagination.js'

/** The arguments of every paged field, in SDL. */
export const PAGE_ARGS = `limit: Int = ${DEFAULT_PAGE_SIZE}, cursor: String, first: Int @deprecated(reason: "Use limit."), after: String @deprecated(reason: "Use cursor.")`

/** `type XConnection` and `type XEdge` for the node type X (or named `name`Connection...). */
export function connectionTypeDefs(node: string, name = node): string {
  return /* GraphQL */ `
  type ${name}Connection {
    nodes: [${node}!]!
    "The next page: pass it as cursor (the same cursor as the REST list's); null on the last page."
    nextCursor: String
    edges: [${name}Edge!]!
    pageInfo: PageInfo!
    totalCount: Int!
  }

  type ${name}Edge {
    cursor: String!
    node: ${node}!
  }
`
}

export function connection<T>(rows: T[], size: number, cursorKey: (row: T) => string[], count: () => Promise<number>) {
  const page = toPage(rows, size)
  const edges = page.rows.map((node) => ({ cursor: encodeCursor(cursorKey(node)), node }))
  const endCursor = edges.at(-1)?.cursor ?? null
  return {
    edges,
    nodes: page.rows,
    nextCursor: page.hasNextPage ? endCursor : null,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor },
    count,
  }
}

export type Connection = ReturnType<typeof connection>

export interface PageArgs {
  limit?: number | null
  cursor?: string | null
  /** Deprecated: limit. */
  first?: number | null
  /** Deprecated: cursor. */
  after?: string | null
}

/** The page size and cursor asked for, and the argument each came in (for refusals). */
export function pageRequest(args: PageArgs) {
  const sizeField = args.first !== null && args.first !== undefined ? 'first' : 'limit'
  const cursorField = args.after !== null && args.after !== undefined ? 'after' : 'cursor'
  return {
    size: pageSize(sizeField === 'first' ? args.first : args.limit, sizeField),
    cursor: cursorField === 'after' ? args.after! : (args.cursor ?? undefined),
    cursorField: cursorField as 'cursor' | 'after',
  }
}

export interface PagedSource<T> {
  /** Parts of the sort key a cursor holds. */
  keyLength: number
  /** Up to `limit` rows after the cursor's key (none: from the start), in the list's order. */
  read: (limit: number, after: string[] | undefined) => Promise<T[]> | T[]
  cursorKey: (row: T) => string[]
  count: () => Promise<number>
}

/** One page of `source` as a connection; a size out of 1..1000 or a foreign cursor is VALIDATION_FAILED. */
export async function paginate<T>(args: PageArgs, source: PagedSource<T>) {
  const { size, cursor, cursorField } = pageRequest(args)
  const after = decodeCursor(cursor, source.keyLength, cursorField)
  const rows = await source.read(size + 1, after)
  return connection(rows, size, source.cursorKey, source.count)
}

/** A list read whole (from vCenter, or short), paged in memory in its given order. */
export function paginateList<T>(args: PageArgs, all: readonly T[], cursorKey: (row: T) => string[], keyLength: number) {
  return paginate(args, {
    keyLength,
    read: (limit, after) => sliceAfter(all, limit, after, cursorKey),
    cursorKey,
    count: async () => all.length,
  })
}

/** totalCount costs a query: counted only when asked for. */
export const connectionResolvers = {
  totalCount: (c: Connection) => c.count(),
}
