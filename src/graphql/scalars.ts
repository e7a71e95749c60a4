/** Custom scalars. */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql'

/** An instant as ISO 8601 text with the time zone, e.g. "2026-03-01T09:30:00.000Z". */
export const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An instant as ISO 8601 text, e.g. "2026-03-01T09:30:00.000Z"',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(String(value))
    if (Number.isNaN(date.getTime())) throw new GraphQLError(`DateTime cannot represent ${String(value)}`)
    return date.toISOString()
  },
  parseValue(value) {
    const date = new Date(String(value))
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be ISO 8601 text')
    return date
  },
  parseLiteral(ast) {
    const date = ast.kind === Kind.STRING ? new Date(ast.value) : undefined
    if (!date || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be ISO 8601 text', { nodes: ast })
    return date
  },
})
