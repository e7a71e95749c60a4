/**
 * A throwaway PostgreSQL database for one test file: a fresh database on the server named by
 * DATABASE_URL when it is set, else an embedded PostgreSQL in a temporary directory.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../src/db/embedded.js'

export interface TestDatabase {
  url: string
  dataDir?: string
  stop(): Promise<void>
}

export async function startTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL
  if (serverUrl) return createDatabaseOn(serverUrl)
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lcs-test-'))
  const embedded = await startEmbeddedPostgres({ dataDir })
  return {
    url: embedded.url,
    dataDir,
    async stop() {
      await embedded.stop()
      await fs.rm(dataDir, { recursive: true, force: true })
    },
  }
}

async function createDatabaseOn(serverUrl: string): Promise<TestDatabase> {
  const name = `lcs_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async stop() {
      const client = new pg.Client({ connectionString: serverUrl })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await client.end()
    },
  }
}
