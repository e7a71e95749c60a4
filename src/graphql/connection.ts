/** A page of records as a GraphQL connection: edges with cursors, nodes, pageInfo, a lazy totalCount. */
import { encodeCursor, toPage } from './pagination.js'

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

/** totalCount costs a query: counted only when asked for. */
export const connectionResolvers = {
  totalCount: (c: Connection) => c.count(),
}
