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

// `--browser` (npm test): the browser tests drive Debian's Chromium. As root it is installed with
// apt-get when missing, as the simulator's Go toolchain is; otherwise the command to run is printed
// (the browser tests then fail, saying so).
if (process.argv.includes('--browser') && !process.env.CHROMIUM_PATH && !existsSync('/usr/bin/chromium')) {
  const install = 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium'
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.error('Installing Debian\'s chromium for the browser tests (apt-get)...')
    const result = spawnSync('sh', ['-c', install], { stdio: 'inherit' })
    if (result.status !== 0) console.error('chromium could not be installed: the browser tests will fail')
  } else {
    console.error(`The browser tests need Debian's chromium: sudo sh -c '${install}' (or set CHROMIUM_PATH)`)
  }
}
