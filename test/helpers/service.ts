/**
 * The whole service for a test: the lab simulator, a real PostgreSQL, and the app built on them,
 * driven through HTTP with inject(). Tokens are signed with the test's own secret.
 */
import { randomBytes } from 'node:crypto'
import https from 'node:https'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config/config.js'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../sim/launcher.js'
import { VimClient } from '../../src/vim25/index.js'
import { startTestDatabase, type TestDatabase } from './database.js'
import { FaultProxy } from './fault-proxy.js'

export interface TestService {
  app: FastifyInstance
  sim: RunningSimulator
  db: TestDatabase
  config: Config
  /** Between the service and the simulator when asked for (TestServiceOptions.faultProxy). */
  proxy?: FaultProxy
  secret: string
  /**
   * A token for `sub` with these scopes; by default a member's (deployments, parents and secrets
   * writes) of its personal team `user:<sub>`; `claims` adds others (`groups`: its teams).
   */
  token(scope?: string, sub?: string, claims?: Record<string, unknown>): string
  /** Authorization header for a token with these scopes (and these teams, the `groups` claim). */
  auth(scope?: string, sub?: string, teams?: string[]): { authorization: string }
  stop(): Promise<void>
}

export interface TestServiceOptions {
  simulator?: SimulatorOptions
  env?: Record<string, string>
  runWorkers?: boolean
  /** The service reaches the simulator through a FaultProxy (service.proxy) that injects faults. */
  faultProxy?: boolean
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const [sim, db] = await Promise.all([startSimulator(options.simulator), startTestDatabase()])
  const secret = randomBytes(32).toString('hex')
  const proxy = options.faultProxy ? new FaultProxy(sim.url) : undefined
  const config = loadConfig({
    VCENTER_URL: proxy ? await proxy.start() : sim.url,
    VCENTER_USERNAME: sim.username,
    VCENTER_PASSWORD: sim.password,
    VCENTER_INSECURE: 'true',
    JWT_SECRET: secret,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // No scheduled drift check unless a test asks: its jobs would fall into tests that count jobs.
    DRIFT_CHECK_MINUTES: '0',
    ...options.env,
  })
  const app = await buildApp({ config, databaseUrl: db.url, runWorkers: options.runWorkers })
  await app.ready()
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })
  const token = (scope = 'deployments:read deployments:write parents:write secrets:write', sub = 'portal-user', claims: Record<string, unknown> = {}) =>
    sign({ sub, scope, ...claims })
  return {
    app,
    sim,
    db,
    config,
    proxy,
    secret,
    token,
    auth: (scope, sub, teams) => ({ authorization: `Bearer ${token(scope, sub, teams ? { groups: teams } : {})}` }),
    async stop() {
      await app.close()
      await proxy?.stop()
      await Promise.all([sim.stop(), db.stop()])
    },
  }
}

/**
 * One more app (API only) on the service's simulator and database, built as server.ts builds it with
 * these settings, writing its log lines (at `logLevel`) into `lines`. Closed when `t` ends.
 */
export async function appWithLogs(
  service: TestService,
  t: { teardown(fn: () => unknown): void },
  options: { env?: Record<string, string>; logLevel?: string } = {},
): Promise<{ app: FastifyInstance; lines: string[] }> {
  const lines: string[] = []
  const config = loadConfig({
    VCENTER_URL: service.sim.url,
    VCENTER_USERNAME: service.sim.username,
    VCENTER_PASSWORD: service.sim.password,
    VCENTER_INSECURE: 'true',
    JWT_SECRET: service.secret,
    LOG_LEVEL: options.logLevel ?? 'trace',
    ...options.env,
  })
  const app = await buildApp({ config, databaseUrl: service.db.url, runWorkers: false, logStream: { write: (line: string) => void lines.push(line) } })
  t.teardown(() => app.close())
  return { app, lines }
}

/** Polls a deployment until it is final, and returns its last representation. */
export async function waitForDeployment(
  service: TestService,
  id: string,
  timeoutMs = 120_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // admin: a deployment of any team (teams' reads are filtered).
    const res = await service.app.inject({ method: 'GET', url: `/v1/deployments/${id}`, headers: service.auth('admin', 'test-helper') })
    const body = res.json()
    if (body.status === 'succeeded' || body.status === 'failed') return body
    if (Date.now() > deadline) throw new Error(`deployment ${id} still ${body.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Sets the capacity of the simulator's datastore (sim/lab/storage.go); answers its capacity and free space. */
export function setDatastoreCapacity(sim: RunningSimulator, capacityGB: number): Promise<{ capacityGB: number; freeGB: number }> {
  const url = new URL(sim.statsUrl)
  url.pathname = '/_lab/datastore'
  url.search = `capacityGB=${capacityGB}`
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', rejectUnauthorized: false }, (res) => {
      let body = ''
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode} ${body}`))))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A vim25 client of the test's own, logged in to the simulator: to look at vCenter, or change it behind the service's back. */
export function connectToSimulator(sim: RunningSimulator): Promise<VimClient> {
  return VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
}
