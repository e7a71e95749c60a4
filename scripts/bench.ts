/**
 * npm run bench: throughput of the service against the seed's flow, on a simulated vCenter as slow
 * as a real one (CloneVM_Task 1000 ms, CustomizeVM_Task 200 ms, PowerOnVM_Task 200 ms).
 * For 3 x 10 and 3 x 25 clones: wall time of both and their ratio, clones per minute, SOAP calls
 * per clone counted at the simulator, the lower bound the configured limits allow, and peak memory.
 * The service is measured warm (see measureService).
 * Figures, not assertions: this machine is shared and noisy.
 *
 *   npm run bench                 # both sizes
 *   npm run bench -- --sizes 10   # one size
 *   npm run bench -- --only concurrency   # one part: throughput, graphql or concurrency
 *   npm run bench -- --scale      # instead: a plan's cost by inventory size (scripts/bench/scale.ts)
 * Then powered-on and guest-ready times with guests that customize in --guest-ms (default 10000),
 * the latency of listing 1,000 clones over GraphQL next to REST (--graphql-seconds per API), and
 * the overlap and sharing of vCenter's work (scripts/bench/concurrency.ts).
 */
import { parseArgs } from 'node:util'
import { effectiveConcurrency } from '../src/domain/estimate.js'
import { loadConfig } from '../src/config/config.js'
import { VimClient } from '../src/vim25/index.js'
import { benchConcurrency } from './bench/concurrency.js'
import { benchGraphqlLatencyInLab } from './bench/graphql-latency.js'
import { benchScale } from './bench/scale.js'
import { runSeedFlow } from './bench/seed-flow.js'
import { benchGuestReady } from './bench/guest-ready.js'
import { apiClient, startLab, type Lab } from './lib/lab.js'

const DELAYS = { CloneVM_Task: 1000, CustomizeVM_Task: 200, PowerOnVM_Task: 200 }
const PARENTS = ['Tmpl Capture 1.0', 'Tmpl Packaging 1.0', 'Tmpl Verification 1.0']
/** Hosts the clones of one parent may use (the default host limit); the lab has 10 per cluster. */
const HOSTS = 8
/** The warm-up clones' numbers, apart from the measured ones. */
const WARM_UP_START_NUMBER = 900

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,25' },
    'graphql-seconds': { type: 'string', default: '10' },
    // --scale: a plan's cost by inventory size instead (scripts/bench/scale.ts); --inventories 100,5000,20000
    scale: { type: 'boolean', default: false },
    inventories: { type: 'string', default: '100,5000,20000' },
    only: { type: 'string' },
    'guest-ms': { type: 'string', default: '10000' },
  },
})
const sizes = values.sizes.split(',').map(Number)
const runs = (part: 'throughput' | 'graphql' | 'concurrency') => !values.only || values.only === part
const say = (line = '') => process.stdout.write(line + '\n')

interface Result {
  size: number
  clones: number
  serviceSeconds: number
  seedSeconds: number
  lowerBoundSeconds: number
  callsPerClone: number
  seedCallsPerClone: number
  peakRssMb: number
}

/** Deploys and waits; throws when a deployment is refused or fails. */
async function deployAll(lab: Lab, startNumber: number, count: number): Promise<void> {
  const api = apiClient(lab)
  const ids = await Promise.all(
    PARENTS.map(async (parent) => {
      const res = await api('POST', '/v1/deployments', { parent, count, startNumber })
      if (res.status !== 202) throw new Error(`${parent}: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body.id as string
    }),
  )
  for (;;) {
    const states = await Promise.all(ids.map((id) => api('GET', `/v1/deployments/${id}`).then((r) => r.body)))
    if (states.every((d) => d.status === 'succeeded' || d.status === 'failed')) {
      const failed = states.filter((d) => d.status === 'failed')
      if (failed.length) throw new Error(`deployments failed: ${JSON.stringify(failed.map((d) => d.error))}`)
      return
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/**
 * The service is measured warm, as it runs in production: one clone per parent first (not counted)
 * opens its connections and compiles its hot paths, which a just-started process pays on its first burst.
 */
async function measureService(lab: Lab, size: number): Promise<{ seconds: number; calls: number; peakRssMb: number }> {
  await deployAll(lab, WARM_UP_START_NUMBER, 1)
  await lab.sim.resetStats()
  let peak = process.memoryUsage().rss
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
  const started = performance.now()
  await deployAll(lab, 1, size)
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  return { seconds, calls: (await lab.sim.stats()).total, peakRssMb: peak / 2 ** 20 }
}

async function measureSeed(lab: Lab, size: number): Promise<{ seconds: number; calls: number }> {
  const client = await VimClient.connect({ url: lab.sim.url, username: lab.sim.username, password: lab.sim.password, insecure: true })
  try {
    await lab.sim.resetStats()
    const started = performance.now()
    for (const parent of PARENTS) await runSeedFlow(client, parent, size, 1)
    return { seconds: (performance.now() - started) / 1000, calls: (await lab.sim.stats()).total }
  } finally {
    await client.close()
  }
}

async function benchSize(size: number): Promise<Result> {
  const lab = await startLab({ delays: DELAYS })
  try {
    const clones = size * PARENTS.length
    say(`${PARENTS.length} x ${size}: the service...`)
    const service = await measureService(lab, size)
    say(`${PARENTS.length} x ${size}: the seed's flow, one clone after another...`)
    const seed = await measureSeed(lab, size)
    const limits = lab.app.config.limits
    const concurrency = effectiveConcurrency(limits, HOSTS)
    const perClone = Object.values(DELAYS).reduce((a, b) => a + b, 0) / 1000
    return {
      size,
      clones,
      serviceSeconds: service.seconds,
      seedSeconds: seed.seconds,
      lowerBoundSeconds: Math.ceil(clones / concurrency) * perClone,
      callsPerClone: service.calls / clones,
      seedCallsPerClone: seed.calls / clones,
      peakRssMb: service.peakRssMb,
    }
  } finally {
    await lab.stop()
  }
}

async function main() {
  if (values.scale) {
    await benchScale(values.inventories.split(',').map(Number), say)
    return
  }
  const limits = loadConfig({ VCENTER_URL: 'https://x/sdk', VCENTER_USERNAME: 'x', VCENTER_PASSWORD: 'x', JWT_SECRET: 'x'.repeat(32) }).limits
  say(`Simulated vCenter delays: ${Object.entries(DELAYS).map(([m, d]) => `${m} ${d} ms`).join(', ')}`)
  say(`Limits: ${limits.perVcenter} per vCenter, ${limits.perHost} per host, ${limits.perDatastore} per datastore`)
  say()
  if (runs('throughput')) await throughput()
  if (runs('graphql')) {
    say('Listing 1,000 clones with provenance and attributes, 50 concurrent clients: GraphQL next to REST')
    for (const line of await benchGraphqlLatencyInLab(Number(values['graphql-seconds']), (l) => say(`  ${l}`))) say(line)
    say()
  }
  if (runs('concurrency')) {
    say('Overlap and sharing of vCenter operations (the tests assert the limits; these are the speeds)')
    await benchConcurrency((l) => say(`  ${l}`))
  }
}

async function throughput() {
  const results: Result[] = []
  for (const size of sizes) results.push(await benchSize(size))
  say()
  const rows = [
    ['clones', 'service s', 'seed s', 'ratio', 'lower bound s', 'x bound', 'clones/min', 'calls/clone', 'seed calls/clone', 'peak RSS MB'],
    ...results.map((r) => [
      `${PARENTS.length} x ${r.size}`,
      r.serviceSeconds.toFixed(2),
      r.seedSeconds.toFixed(1),
      (r.serviceSeconds / r.seedSeconds).toFixed(3),
      r.lowerBoundSeconds.toFixed(1),
      (r.serviceSeconds / r.lowerBoundSeconds).toFixed(2),
      ((r.clones / r.serviceSeconds) * 60).toFixed(0),
      r.callsPerClone.toFixed(1),
      r.seedCallsPerClone.toFixed(1),
      r.peakRssMb.toFixed(0),
    ]),
  ]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  for (const row of rows) say(row.map((c, i) => c.padStart(widths[i]!)).join('  '))
  say()
  say('ratio: service / seed wall time (goal <= 0.10); x bound: service / lower bound (goal <= 1.25);')
  say('lower bound: waves of clones at the tightest limit x the simulated time of one clone; peak RSS: the')
  say('bench process, which runs the service, PostgreSQL client and HTTP client together.')
  say()
  say(`Guest-ready: ${values['guest-ms']} ms guests (+/- 20%) customize after power-on, in parallel`)
  for (const size of sizes) {
    const g = await benchGuestReady(size, Number(values['guest-ms']), DELAYS, () => {})
    say(
      `  ${PARENTS.length} x ${size}: powered on in ${g.poweredOnSeconds.toFixed(1)} s, guest-ready in ${g.guestReadySeconds.toFixed(1)} s; ` +
        `guest-ready / (powered on + guest delay) = ${g.ratio.toFixed(2)} (goal <= 1.15)`,
    )
  }
  say()
}

main().then(
  // autocannon may keep the sockets of requests still unanswered when its time is up: exit anyway.
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
