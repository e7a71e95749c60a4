/**
 * A whole lab on this machine for the demo and the benchmark: the vCenter simulator (built from
 * Debian's govmomi if needed), an embedded PostgreSQL in a fresh temporary directory, and the
 * service listening on a loopback port. Everything is stopped and removed by stop().
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { ensureSimulatorBuilt, startSimulator, type RunningSimulator } from '../../sim/launcher.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { freePort, startEmbeddedPostgres } from '../../src/db/embedded.js'

export interface Lab {
  baseUrl: string
  sim: RunningSimulator
  app: FastifyInstance
  /** A bearer token of the team `training` with every scope but secrets:read and admin. */
  token: string
  /** A bearer token for another caller: its sub, its teams (the `groups` claim) and scopes. */
  tokenFor(sub: string, teams: string[], scope?: string): string
  stop(): Promise<void>
}

export interface LabOptions {
  delays?: Record<string, number>
  /** ESXi hosts in the simulator's cluster (default 10). */
  hosts?: number
  /** Filler VMs in the simulator's inventory besides the seed's (default none). */
  filler?: number
  /** The guest's customization time after power-on, ms (the simulator's -guest-ms). */
  guestMs?: number
  /** Extra service environment (limits...). */
  env?: Record<string, string>
  log?: (line: string) => void
}

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const log = options.log ?? (() => {})
  log('building the vCenter simulator (govmomi) if needed...')
  await ensureSimulatorBuilt(log)
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'linked-clones-lab-'))
  log('starting the vCenter simulator and an embedded PostgreSQL...')
  const [sim, database] = await Promise.all([
    startSimulator({
      delays: options.delays,
      hosts: options.hosts,
      filler: options.filler,
      ...(options.guestMs !== undefined ? { guestMs: options.guestMs } : {}),
    }),
    startEmbeddedPostgres({ dataDir }),
  ])
  const secret = randomBytes(32).toString('hex')
  const port = await freePort()
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    VCENTER_URL: sim.url,
    VCENTER_USERNAME: sim.username,
    VCENTER_PASSWORD: sim.password,
    VCENTER_INSECURE: 'true',
    JWT_SECRET: secret,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...options.env,
  })
  const app = await buildApp({ config, databaseUrl: database.url })
  await app.listen({ port, host: '127.0.0.1' })
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })
  const tokenFor = (sub: string, teams: string[], scope = 'deployments:read deployments:write parents:write secrets:write') =>
    sign({ sub, scope, groups: teams })
  const token = tokenFor('demo', ['training'])
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    sim,
    app,
    token,
    tokenFor,
    async stop() {
      await app.close()
      await Promise.all([sim.stop(), database.stop()])
      await fs.rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** A small JSON client for the service's HTTP API. */
export function apiClient(lab: Pick<Lab, 'baseUrl' | 'token'>) {
  return async function api<T = any>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(lab.baseUrl + url, {
      method,
      headers: { authorization: `Bearer ${lab.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: res.status, body: (await res.json()) as T }
  }
}
