/**
 * The GraphQL schema as published (schema.graphql, GET /graphql/schema.graphql): the modules' type
 * definitions built into one schema and printed in graphql-js's canonical form, so that the same
 * definitions always print the same text, whatever their order of extension.
 */
import { buildSchema, lexicographicSortSchema, printSchema } from 'graphql'

export function printGraphqlSchema(typeDefs: string): string {
  return printSchema(lexicographicSortSchema(buildSchema(typeDefs)))
}
