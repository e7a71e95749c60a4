// Makes `npm run demo` and `npm test` work right after cloning: installs the npm dependencies
// (npm ci) when node_modules has not been installed. Plain JavaScript, because it runs before tsx
// is installed. An existing install is left alone: reinstalling under running processes would pull
// their modules away (run `npm ci` yourself after changing dependencies).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

if (!existsSync('node_modules/.package-lock.json')) {
  console.error('Installing npm dependencies (npm ci)...')
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
