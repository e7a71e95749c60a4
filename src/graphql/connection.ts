/**
 * Cursor-paginated lists as GraphQL connections: the SDL of a connection type, the page read with
 * `first`/`after` (keyset: one row more than asked tells whether a next page exists), and a lazy
 * totalCount. Every paginated field goes through paginate(), so sizes, cursors and their refusals
 * (VALIDATION_FAILED) are the same everywhere.
 */
import { decodeCursor, encodeCursor, pageSize, toPage } from './pagination.js'

/** `type XConnection` and `type XEdge` for the node type X (or named `name`Connection...). */
export function connectionTypeDefs(node: string, name = node): string {
  return /* GraphQL */ `
  type ${name}Connection {
    edges: [${name}Edge!]!
    nodes: [${node}!]!
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
  return {
    edges,
    nodes: page.rows,
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    count,
  }
}

export type Connection = ReturnType<typeof connection>

export interface PageArgs {
  first?: number | null
  after?: string | null
}

export interface PagedSource<T> {
  /** Parts of the sort key a cursor holds. */
  keyLength: number
  /** Up to `limit` rows after the cursor's key (none: from the start), in the list's order. */
  read: (limit: number, after: string[] | undefined) => Promise<T[]>
  cursorKey: (row: T) => string[]
  count: () => Promise<number>
}

/** One page of `source` as a connection; `first` out of 1..1000 or a foreign `after` is VALIDATION_FAILED. */
export async function paginate<T>(args: PageArgs, source: PagedSource<T>) {
  const size = pageSize(args.first)
  const after = decodeCursor(args.after, source.keyLength)
  const rows = await source.read(size + 1, after)
  return connection(rows, size, source.cursorKey, source.count)
}

/** totalCount costs a query: counted only when asked for. */
export const connectionResolvers = {
  totalCount: (c: Connection) => c.count(),
}
