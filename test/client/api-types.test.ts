/**
 * The typed client's types are generated from openapi.yaml: the committed src/client/api-types.ts must be
 * what `npm run client:types` makes of the committed document, so the client cannot drift from it.
 */
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { CLIENT_TYPES, generateClientTypes, OPENAPI_DOCUMENT } from '../../scripts/lib/client-types.js'

t.test('src/client/api-types.ts is up to date with openapi.yaml (else: npm run client:types)', async (t) => {
  const [fresh, committed] = await Promise.all([generateClientTypes(), readFile(CLIENT_TYPES, 'utf8')])
  t.equal(committed, fresh)
})

t.test('a change of the document changes the generated types (the comparison above can fail)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'client-types-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const document = parse(await readFile(OPENAPI_DOCUMENT, 'utf8'))
  document.paths['/v1/made-up'] = { get: { responses: { '200': { description: 'ok' } } } }
  const changed = path.join(dir, 'openapi.yaml')
  await writeFile(changed, stringify(document))
  const types = await generateClientTypes(changed)
  t.match(types, '"/v1/made-up"')
  t.not(types, await generateClientTypes())
})
