// The lint keeps the house's layout: which layer may import which (README, "How it is built"),
// no import cycle, and typescript-eslint's recommended rules. `npm run lint`; `npm test` runs it.
import js from '@eslint/js'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import { importX } from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

/** Every layer under src/, lowest first. A layer may import the ones listed as its `allowed`. */
const LAYERS = {
  errors: { path: './src/errors.ts', allowed: [] },
  domain: { path: './src/domain', allowed: ['errors'] },
  config: { path: './src/config', allowed: ['errors', 'domain'] },
  vim25: { path: './src/vim25', allowed: ['domain'] },
  vcenter: { path: './src/vcenter', allowed: ['errors', 'domain', 'config', 'vim25'] },
  db: { path: './src/db', allowed: ['errors', 'domain', 'config'] },
  jobs: { path: './src/jobs', allowed: ['errors', 'domain', 'config', 'db'] },
  http: { path: './src/http', allowed: ['errors', 'domain', 'config'] },
  graphql: { path: './src/graphql', allowed: ['errors', 'domain', 'config', 'db', 'http'] },
  modules: { path: './src/modules', allowed: ['errors', 'domain', 'config', 'db', 'jobs', 'http', 'graphql', 'vcenter', 'vim25'] },
  // The typed client and the command line on it speak to the service over HTTP only: none of its layers.
  client: { path: './src/client', allowed: [] },
  cli: { path: './src/cli', allowed: ['client'] },
}

/** Each layer's zone: it may import nothing of the layers not in its `allowed` (nor app.ts/server.ts). */
const layerZones = Object.entries(LAYERS).map(([name, layer]) => ({
  target: layer.path,
  from: [
    ...Object.entries(LAYERS)
      .filter(([other]) => other !== name && !layer.allowed.includes(other))
      .map(([, other]) => other.path),
    './src/app.ts',
    './src/server.ts',
  ],
  message: `${name} may import only ${layer.allowed.join(', ') || 'nothing of the service'} (see eslint.config.js)`,
}))

/** Routes, resolvers and presenters reach the database and vCenter only through their module's service. */
const edgeZone = {
  target: ['./src/modules/**/*-routes.ts', './src/modules/**/*-graphql.ts'],
  from: ['./src/db', './src/vcenter', './src/vim25', './src/jobs'],
  message: 'routes and resolvers call services only (one way down)',
}

/** Pure rules stay pure: no framework, database, queue or network client in src/domain. */
const ioPackages = ['fastify', 'fastify-*', '@fastify/*', 'mercurius', 'pg', 'pg-boss', 'drizzle-orm', 'drizzle-orm/*', 'axios', 'fast-xml-parser', 'graphql']

export default tseslint.config(
  { ignores: ['node_modules/**', 'sim/lab/**', 'migrations/**', 'coverage/**', '.tap/**', 'dist/**', '.build-test/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      // A variable a closure reads before its one assignment cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and scripts read JSON answers of many shapes; `any` there is a reading aid, not a contract.
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.mjs', 'scripts/**/*.js'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } },
  },
  {
    // The page for people (ui/): plain ES modules run by the browser, no build step.
    files: ['ui/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['window', 'document', 'sessionStorage', 'fetch', 'setTimeout', 'AbortSignal', 'DOMException', 'DOMParser', 'CustomEvent', 'CSS', 'Node', 'atob']
          .concat(['HTMLElement', 'HTMLButtonElement', 'HTMLDialogElement', 'HTMLFormElement', 'HTMLInputElement', 'HTMLTextAreaElement'])
          .concat(['Event', 'EventListener', 'SubmitEvent'])
          .map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { zones: [...layerZones, edgeZone] }] },
  },
  {
    // Every SQL statement lives in src/db (repositories, migrations, the LISTEN connection).
    files: ['src/**/*.ts'],
    ignores: ['src/db/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'CallExpression[callee.property.name=/^(query|executeSql)$/]', message: 'SQL lives in src/db/repositories' },
      ],
      'no-restricted-imports': ['error', { patterns: [{ group: ['drizzle-orm', 'drizzle-orm/*'], message: 'SQL lives in src/db/repositories' }] }],
    },
  },
  {
    files: ['src/domain/**/*.ts', 'src/errors.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ioPackages, message: 'domain/ is pure: no I/O or framework packages' }] }] },
  },
)
