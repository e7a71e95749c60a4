// Builds and starts the seeded vCenter simulator (sim/lab, a govmomi vcsim)
// for tests. Node built-ins only.
//
//   const sim = await startSimulator({ delays: { CloneVM_Task: 2000 } })
//   ... talk SOAP to sim.url with sim.username / sim.password ...
//   (await sim.stats()).methods.CloneVM_Task?.maxInFlight
//   await sim.stop()

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { mkdir, readdir, rename, rm, stat, utimes, writeFile, readFile } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface SimulatorOptions {
  /** ESXi hosts in the cluster (default 10). */
  hosts?: number
  /** Per-method delays in ms, e.g. { CloneVM_Task: 2000 }. Key "*" delays every method. */
  delays?: Record<string, number>
  /** Login user name (default administrator@vsphere.local). Login checks it. */
  username?: string
  /** Login password (default Lab-Passw0rd!). Login checks it. */
  password?: string
  /** Seed templates, custom fields and customization specs (default true). */
  seed?: boolean
  /** Time a guest takes to customize after power-on, in ms (default 0: the events follow at once). */
  guestMs?: number
  /** Jitter of guestMs as a fraction of it (default 0.2). */
  guestJitter?: number
  /** VMs (or parents, their clones follow) whose guest customization fails / never ends. */
  guestFail?: string[]
  guestHang?: string[]
  /** Filler VMs added after seeding, in folders of 1,000 (default 0): a large inventory for benchmarks. */
  filler?: number
}

export type GuestOutcome = 'succeed' | 'fail' | 'hang'
export type CloneDisks = 'linked' | 'full' | 'other-snapshot'


export interface MethodStats {
  count: number
  inFlight: number
  maxInFlight: number
  /** Responses with HTTP status >= 500 (SOAP faults) and requests vcsim crashed on. */
  faults?: number
}

export interface SimulatorStats {
  /** Every *_Task method together: vCenter operations in progress at once. */
  tasks: MethodStats
  total: number
  /** SOAP requests of any method in progress right now / at most since the last reset. */
  inFlight?: number
  maxInFlight?: number
  methods: Record<string, MethodStats>
}

export interface RunningSimulator {
  url: string
  username: string
  password: string
  statsUrl: string
  stats(): Promise<SimulatorStats>
  resetStats(): Promise<void>
  /** Marks a VM (or a parent: its clones follow) so that its next guest customizations end so. */
  setGuestOutcome(vmName: string, outcome: GuestOutcome): Promise<void>
  /** Makes the parent's clones full copies, or linked onto another of its snapshots, or as asked again. */
  setCloneDisks(parentName: string, disks: CloneDisks): Promise<void>
  stop(): Promise<void>
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const sourceDir = join(repoRoot, 'sim', 'lab')
const buildDir = join(repoRoot, '.sim-build')
const binaryPath = join(buildDir, 'vcsim-lab')
const lockDir = join(buildDir, 'build.lock')

// Debian: golang-go puts `go` on PATH, golang-github-vmware-govmomi-dev the sources here.
const GOPATH = '/usr/share/gocode'
const govmomiDir = join(GOPATH, 'src/github.com/vmware/govmomi/simulator')
const debianPackages = ['golang-go', 'golang-github-vmware-govmomi-dev']

const STARTUP_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 5_000
const LOCK_STALE_MS = 15 * 60_000 // a build plus an apt-get install should never take this long
const LOCK_WAIT_MS = 20 * 60_000

type Log = (line: string) => void

/** Builds .sim-build/vcsim-lab if it is missing or older than any file in sim/lab; returns its path. */
export async function ensureSimulatorBuilt(log: Log = () => {}): Promise<string> {
  if (!(await needsBuild())) return binaryPath
  await mkdir(buildDir, { recursive: true })
  const release = await acquireLock(log)
  try {
    // Another process may have built it while we waited for the lock.
    if (!(await needsBuild())) return binaryPath
    await ensureToolchain(log)
    await build(log)
    return binaryPath
  } finally {
    await release()
  }
}

async function needsBuild(): Promise<boolean> {
  let built: number
  try {
    built = (await stat(binaryPath)).mtimeMs
  } catch {
    return true
  }
  return (await newestMtime(sourceDir)) > built
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const mtime = entry.isDirectory() ? await newestMtime(path) : (await stat(path)).mtimeMs
    newest = Math.max(newest, mtime)
  }
  return newest
}

// mkdir is atomic, so the lock is a directory; owner.json inside lets a
// waiter break a lock whose owner died.
async function acquireLock(log: Log): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS
  let announced = false
  for (;;) {
    try {
      await mkdir(lockDir)
      await writeFile(join(lockDir, 'owner.json'), JSON.stringify({ pid: process.pid, since: Date.now() }))
      return () => rm(lockDir, { recursive: true, force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    if (await lockIsStale()) {
      log(`vcsim-lab: breaking stale build lock ${lockDir}`)
      await rm(lockDir, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the vcsim-lab build lock ${lockDir}`)
    if (!announced) log('vcsim-lab: another process is building the simulator, waiting')
    announced = true
    await sleep(250)
  }
}

async function lockIsStale(): Promise<boolean> {
  try {
    const info = await stat(lockDir)
    if (Date.now() - info.mtimeMs > LOCK_STALE_MS) return true
    const owner = JSON.parse(await readFile(join(lockDir, 'owner.json'), 'utf8')) as { pid: number }
    return !processAlive(owner.pid)
  } catch (err) {
    // owner.json not written yet (the owner is between mkdir and writeFile) or the lock just went away.
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || err instanceof SyntaxError) return false
    throw err
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function ensureToolchain(log: Log): Promise<void> {
  const missing = !(await goAvailable()) || !existsSync(govmomiDir)
  if (!missing) return
  const command = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${debianPackages.join(' ')}`
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The vCenter simulator needs Go and the govmomi sources (${govmomiDir}). ` +
        `Install the Debian packages ${debianPackages.join(' and ')}: sudo sh -c '${command}'`,
    )
  }
  log(`vcsim-lab: installing ${debianPackages.join(' ')} with apt-get`)
  await run('apt-get', ['update'], { log })
  await run('apt-get', ['install', '-y', ...debianPackages], {
    log,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (!(await goAvailable()) || !existsSync(govmomiDir)) {
    throw new Error(`installed ${debianPackages.join(' ')} but go or ${govmomiDir} is still missing`)
  }
}

async function goAvailable(): Promise<boolean> {
  try {
    await run('go', ['version'], {})
    return true
  } catch {
    return false
  }
}

/**
 * How `go` builds and tests the lab: GOPATH mode against Debian's govmomi sources. The lab's own Go
 * tests (`go test ./sim/lab`, run by test/sim/lab-go.test.ts) use the same environment.
 */
export function goEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(buildDir, 'gocache') }
}

export { repoRoot as simulatorRepoRoot }

async function build(log: Log): Promise<void> {
  const started = Date.now()
  const tmpOut = `${binaryPath}.tmp-${process.pid}`
  log('vcsim-lab: building the simulator (a cold build takes ~15-60 s)')
  try {
    await run('go', ['build', '-o', tmpOut, './sim/lab'], { cwd: repoRoot, env: goEnvironment() })
    // Stamp the build start, so sources edited during the build trigger a rebuild.
    const startedAt = new Date(started)
    await utimes(tmpOut, startedAt, startedAt)
    await rename(tmpOut, binaryPath) // atomic: a concurrent reader sees the old or the new binary
  } catch (err) {
    await rm(tmpOut, { force: true })
    throw err
  }
  log(`vcsim-lab: built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  log?: Log
}

/** Runs a command; rejects with its output if it fails. */
function run(cmd: string, args: string[], opts: RunOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const onData = (chunk: Buffer) => {
      const text = chunk.toString()
      output = (output + text).slice(-20_000)
      if (opts.log) for (const line of text.split('\n')) if (line.trim()) opts.log(line)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`))
    })
  })
}

// Children still running when this process exits get SIGKILLed (their temp
// dirs removed). The simulator also exits by itself when its stdin closes,
// which covers this process being killed outright.
const live = new Set<{ child: ChildProcess; tmp: string }>()
process.on('exit', () => {
  for (const { child, tmp } of live) {
    child.kill('SIGKILL')
    rmSync(tmp, { recursive: true, force: true })
  }
})

/** Builds if needed, starts a simulator and waits until it is seeded and listening. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const bin = await ensureSimulatorBuilt()
  const args = [
    '-listen=127.0.0.1:0',
    `-hosts=${opts.hosts ?? 10}`,
    `-seed=${opts.seed ?? true}`,
    '-exit-on-stdin-eof',
  ]
  if (opts.username !== undefined) args.push(`-username=${opts.username}`)
  if (opts.password !== undefined) args.push(`-password=${opts.password}`)
  if (opts.filler !== undefined) {
    if (!Number.isInteger(opts.filler) || opts.filler < 0) throw new Error(`bad simulator filler ${opts.filler}`)
    args.push(`-filler=${opts.filler}`)
  }
  const delays = Object.entries(opts.delays ?? {})
  for (const [method, ms] of delays) {
    if (!/^[\w*]+$/.test(method) || !Number.isInteger(ms) || ms < 0) {
      throw new Error(`bad simulator delay ${method}=${ms}`)
    }
  }
  if (delays.length) args.push(`-delay=${delays.map(([m, ms]) => `${m}=${ms}`).join(',')}`)
  if (opts.guestMs !== undefined) {
    if (!Number.isInteger(opts.guestMs) || opts.guestMs < 0) throw new Error(`bad guestMs ${opts.guestMs}`)
    args.push(`-guest-ms=${opts.guestMs}`)
  }
  if (opts.guestJitter !== undefined) args.push(`-guest-jitter=${opts.guestJitter}`)
  for (const [flag, names] of [['guest-fail', opts.guestFail], ['guest-hang', opts.guestHang]] as const) {
    if (!names?.length) continue
    if (names.some((n) => n.includes(','))) throw new Error(`a ${flag} VM name may not contain a comma`)
    args.push(`-${flag}=${names.join(',')}`)
  }

  // A private directory for the simulated datastores: the simulator removes it
  // when it stops, and so do we once it has exited (even after a SIGKILL).
  const tmp = mkdtempSync(join(tmpdir(), 'vcsim-lab-'))
  args.push(`-tmpdir=${tmp}`)
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const entry = { child, tmp }
  live.add(entry)

  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000)
    if (process.env.VCSIM_LAB_DEBUG) process.stderr.write(chunk) // set to see the simulator's log
  })
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
    child.on('error', () => {
      if (child.pid === undefined) resolve() // spawn failed: there will be no 'exit'
    })
  })
  // A forgotten stop() must not keep the test process alive; the 'exit' hook kills the child.
  child.unref()
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?(): void }).unref?.()
  void exited.then(() => {
    live.delete(entry)
    rmSync(tmp, { recursive: true, force: true })
  })

  let info: { url: string; username: string; password: string; statsUrl: string }
  try {
    // Filler VMs are made one SOAP call each: allow them their time (about 5 ms each here).
    info = await readStartupLine(child, () => stderr, STARTUP_TIMEOUT_MS + (opts.filler ?? 0) * 20)
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    throw err
  }

  let stopping: Promise<void> | undefined
  return {
    ...info,
    stats: async () => JSON.parse(await localHttps('GET', info.statsUrl)) as SimulatorStats,
    resetStats: async () => {
      await localHttps('POST', `${info.statsUrl}/reset`)
    },
    setGuestOutcome: async (vmName, outcome) => {
      const url = new URL('/_lab/guest', info.statsUrl)
      url.searchParams.set('vm', vmName)
      url.searchParams.set('outcome', outcome)
      await localHttps('POST', url.toString())
    },
    setCloneDisks: async (parentName, disks) => {
      const url = new URL('/_lab/clones', info.statsUrl)
      url.searchParams.set('parent', parentName)
      url.searchParams.set('disks', disks)
      await localHttps('POST', url.toString())
    },
    stop: () => (stopping ??= stopChild(child, exited)),
  }
}

function readStartupLine(
  child: ChildProcess,
  stderr: () => string,
  timeoutMs: number,
): Promise<{ url: string; username: string; password: string; statsUrl: string }> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    const fail = (why: string) => {
      cleanup()
      reject(new Error(`vcsim-lab ${why}\n--- stderr ---\n${stderr()}`))
    }
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs / 1000} s`), timeoutMs)
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString()
      const nl = buffered.indexOf('\n')
      if (nl < 0) return
      const line = buffered.slice(0, nl)
      cleanup()
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`vcsim-lab printed an unexpected line: ${line}\n--- stderr ---\n${stderr()}`))
      }
    }
    const onExit = (code: number | null, signal: string | null) =>
      // Let stderr drain before reporting.
      setImmediate(() => fail(`exited during startup (${signal ?? `exit ${code}`})`))
    const onError = (err: Error) => fail(`could not be started: ${err.message}`)
    function cleanup() {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      child.stdout?.resume() // keep draining: nothing else is printed, but never block the child
    }
    child.stdout?.on('data', onData)
    child.on('exit', onExit)
    child.on('error', onError)
  })
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return exited
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
  await exited
  clearTimeout(timer)
}

/** HTTPS request to the simulator's own stats endpoint; its certificate is self-signed. */
function localHttps(method: 'GET' | 'POST', url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, rejectUnauthorized: false, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${url}: HTTP ${res.statusCode}: ${body}`))
        else resolve(body)
      })
    })
    req.on('error', reject)
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url}: timed out`)))
    req.end()
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
