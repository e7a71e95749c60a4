/**
 * The typed client's types (src/client/api-types.ts), generated from openapi.yaml with openapi-typescript.
 * `npm run client:types` writes them; test/client/api-types.test.ts fails when the committed file differs.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'

export const OPENAPI_DOCUMENT = fileURLToPath(new URL('../../openapi.yaml', import.meta.url))
export const CLIENT_TYPES = fileURLToPath(new URL('../../src/client/api-types.ts', import.meta.url))

/** The types' source text for the document at `source` (default: the committed openapi.yaml). */
export async function generateClientTypes(source = OPENAPI_DOCUMENT): Promise<string> {
  const document = await readFile(source, 'utf8')
  // defaultNonNullable off: a request field with a default (hostLimit, dryRun...) stays optional.
  const ast = await openapiTS(document, { defaultNonNullable: false, silent: true })
  return `${COMMENT_HEADER.replace(' */', ' * Generated from openapi.yaml by `npm run client:types`.\n */')}${astToString(ast)}`
}

export async function writeClientTypes(source = OPENAPI_DOCUMENT, target = CLIENT_TYPES): Promise<void> {
  await writeFile(target, await generateClientTypes(source))
}
