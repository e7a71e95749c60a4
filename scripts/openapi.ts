/**
 * Writes the generated contract: openapi.yaml (OpenAPI 3.1, from the REST routes' TypeBox schemas) and
 * schema.graphql (the GraphQL schema's SDL). Run after changing a route's schema or a type definition:
 *   npm run openapi
 */
import { writeFile } from 'node:fs/promises'
import { CONTRACT_FILES, generateContract } from './lib/contract.js'

const files = await generateContract()
for (const name of CONTRACT_FILES) {
  await writeFile(new URL(`../${name}`, import.meta.url), files[name])
  process.stdout.write(`wrote ${name}\n`)
}
