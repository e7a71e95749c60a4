/**
 * The generated contract files, from the routes' schemas and the GraphQL type definitions, with no
 * database or vCenter: `npm run openapi` writes them; test/http/contract checks the committed ones.
 */
import { randomBytes } from 'node:crypto'
import { buildContractApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { printGraphqlSchema } from '../../src/graphql/sdl.js'
import { typeDefs } from '../../src/modules/graphql-schema.js'

export const CONTRACT_FILES = ['openapi.yaml', 'schema.graphql'] as const

export async function generateContract(): Promise<Record<(typeof CONTRACT_FILES)[number], string>> {
  // Settings only to build the app: nothing connects anywhere.
  const config = loadConfig({
    VCENTER_URL: 'https://vcenter.invalid/sdk',
    VCENTER_USERNAME: 'contract',
    VCENTER_PASSWORD: 'contract',
    JWT_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'silent',
  })
  const app = await buildContractApp(config)
  try {
    return { 'openapi.yaml': app.swagger({ yaml: true }), 'schema.graphql': printGraphqlSchema(typeDefs) }
  } finally {
    await app.close()
  }
}
