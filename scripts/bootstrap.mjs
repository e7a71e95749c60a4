// Makes `npm run demo` and `npm test` work right after cloning: installs the npm dependencies
// (npm ci) when node_modules is missing or older than package-lock.json. Plain JavaScript, because
// it runs before tsx is installed.
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'

const mtime = (file) => {
  try {
    return statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

const installed = mtime('node_modules/.package-lock.json')
const lock = mtime('package-lock.json')
if (installed === undefined || (lock !== undefined && lock > installed)) {
  console.error('Installing npm dependencies (npm ci)...')
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}
