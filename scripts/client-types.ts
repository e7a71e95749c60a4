/**
 * npm run client:types: regenerates src/client/api-types.ts from openapi.yaml (run it after the
 * document changes; the typed client and the CLI need nothing else).
 *   npm run client:types -- --check   # exit 1 when the committed types are out of date
 */
import { readFile } from 'node:fs/promises'
import { CLIENT_TYPES, generateClientTypes, writeClientTypes } from './lib/client-types.js'

if (process.argv.includes('--check')) {
  const [fresh, committed] = await Promise.all([generateClientTypes(), readFile(CLIENT_TYPES, 'utf8').catch(() => '')])
  if (fresh !== committed) {
    process.stderr.write('src/client/api-types.ts is out of date with openapi.yaml: run npm run client:types\n')
    process.exit(1)
  }
} else {
  await writeClientTypes()
  process.stdout.write('wrote src/client/api-types.ts\n')
}
