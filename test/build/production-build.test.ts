/**
 * The production build: `tsc -p tsconfig.build.json` compiles src/ alone, and the compiled server
 * starts with plain node (no tsx), finds its migrations from the build's folder, answers its health
 * and metrics, and stops on SIGTERM. On the lab simulator and a real PostgreSQL.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { startSimulator, type RunningSimulator } from '../../sim/launcher.js'
import { startTestDatabase, type TestDatabase } from '../helpers/database.js'
import { startServiceProcess } from '../helpers/service-process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// Inside the repository (so that node_modules and migrations/ are found upwards, as in the image),
// apart from a developer's own dist/.
const OUT_DIR = '.build-test/dist'

let sim: RunningSimulator
let db: TestDatabase
t.before(async () => {
  ;[sim, db] = await Promise.all([startSimulator(), startTestDatabase()])
})
t.teardown(async () => {
  await Promise.all([sim?.stop(), db?.stop()])
  await rm(new URL('../../.build-test', import.meta.url), { recursive: true, force: true })
})

t.test('npm run build compiles; node server.js starts, answers and stops', async (t) => {
  await rm(new URL(`../../${OUT_DIR}`, import.meta.url), { recursive: true, force: true })
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url))
  // The build script's command, into the test's own folder.
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', OUT_DIR], { cwd: ROOT })
  t.ok(existsSync(`${ROOT}${OUT_DIR}/server.js`), 'server.js compiled')
  t.notOk(existsSync(`${ROOT}${OUT_DIR}/test`), 'only src/ is built')

  const metricsToken = randomBytes(24).toString('hex')
  const service = await startServiceProcess(
    {
      DATABASE_URL: db.url,
      VCENTER_URL: sim.url,
      VCENTER_USERNAME: sim.username,
      VCENTER_PASSWORD: sim.password,
      VCENTER_INSECURE: 'true',
      JWT_SECRET: randomBytes(32).toString('hex'),
      SECRETS_KEY: randomBytes(32).toString('base64'),
      METRICS_TOKEN: metricsToken,
      // No TypeScript loader in the process: only compiled JavaScript can run.
      NODE_OPTIONS: '',
    },
    { compiledEntry: `${OUT_DIR}/server.js` },
  )
  t.teardown(() => service.kill('SIGKILL'))

  const live = await fetch(`${service.url}/health/live`)
  t.equal(live.status, 200)
  const ready = await fetch(`${service.url}/health/ready`)
  t.same(await ready.json(), { status: 'ok', checks: { database: 'ok', vcenter: 'ok' } }, 'migrated its database and reached vCenter')
  const metrics = await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
  t.equal(metrics.status, 200)
  t.match(await metrics.text(), /vcenter_soap_calls_total\{method="RetrieveServiceContent",outcome="ok"\}/)

  const page = await fetch(`${service.url}/ui/`)
  t.equal(page.status, 200, 'the page at /ui, its files found from the compiled plugin')
  t.match(await page.text(), /<html/i)

  t.equal(await service.kill('SIGTERM'), 0, 'SIGTERM: a clean exit')
  t.notOk(service.output.some((line) => /tsx/.test(line)), 'nothing of tsx in its output')
})

t.test('embedded mode: SIGTERM stops the work, then its PostgreSQL, and exits 0', async (t) => {
  t.ok(existsSync(`${ROOT}${OUT_DIR}/server.js`), 'built by the test before')
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lcs-build-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const service = await startServiceProcess(
    {
      DATABASE_URL: '',
      DATA_DIR: dataDir,
      VCENTER_URL: sim.url,
      VCENTER_USERNAME: sim.username,
      VCENTER_PASSWORD: sim.password,
      VCENTER_INSECURE: 'true',
      JWT_SECRET: randomBytes(32).toString('hex'),
      NODE_OPTIONS: '',
    },
    { compiledEntry: `${OUT_DIR}/server.js` },
  )
  t.teardown(() => service.kill('SIGKILL'))
  t.equal((await fetch(`${service.url}/health/ready`)).status, 200, 'ready on its own PostgreSQL')
  t.equal(await service.kill('SIGTERM'), 0, 'SIGTERM: a clean exit')
  t.ok(service.output.some((line) => line.includes('shutting down')), 'the shutdown is logged')
  const postmaster = await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').catch(() => undefined)
  t.equal(postmaster, undefined, 'its PostgreSQL stopped with it')
})
