/**
 * npm run bench -- --scale: how a plan's cost grows with the size of vCenter's inventory.
 * For each inventory size (the lab with 32 hosts, no simulated delays, and filler VMs up to the
 * size): the time of a dry run of 500 clones (median and worst of several, the service warm), the
 * SOAP calls of one plan as the simulator counts them, the worst latency of
 * GET /v1/pools while 4 plans run at once, and the event loop's worst delay in that time (the
 * service runs in this process). Figures, not assertions: this machine is shared and noisy.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { apiClient, startLab, type Lab } from '../lib/lab.js'

const PARENT = 'Tmpl Capture 1.0'
const PLAN = { parent: PARENT, count: 500, prefix: 'Scale', startNumber: 1, dryRun: true }
const RUNS = 5

export interface ScaleRow {
  inventory: number
  planMedianMs: number
  planWorstMs: number
  soapCallsPerPlan: number
  poolsWorstMsDuringPlans: number
  eventLoopWorstMs: number
  /** Of the 4 plans at once, those answered other than 200 (e.g. 503 DATABASE_BUSY when the event loop starves). */
  concurrentPlansRefused: number
  rssMb: number
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const value = await fn()
  return [value, performance.now() - start]
}

async function measure(lab: Lab, inventory: number, say: (line?: string) => void): Promise<ScaleRow> {
  const api = apiClient(lab)
  const plan = async () => {
    const res = await api('POST', '/v1/deployments', PLAN)
    if (res.status !== 200) throw new Error(`dry run: ${res.status} ${JSON.stringify(res.body)}`)
  }
  await plan() // warm: the session, its views and the remembered parent
  const times: number[] = []
  await lab.sim.resetStats()
  for (let i = 0; i < RUNS; i++) times.push((await timed(plan))[1])
  const soapCallsPerPlan = (await lab.sim.stats()).total / RUNS
  times.sort((a, b) => a - b)

  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let plansDone = false
  const tryPlan = () => api('POST', '/v1/deployments', PLAN).then((res) => res.status)
  const plans = Promise.all([tryPlan(), tryPlan(), tryPlan(), tryPlan()]).finally(() => (plansDone = true))
  let poolsWorst = 0
  while (!plansDone) {
    const [res, ms] = await timed(() => api('GET', '/v1/pools'))
    if (res.status !== 200) say(`  GET /v1/pools answered ${res.status} during the plans`)
    poolsWorst = Math.max(poolsWorst, ms)
  }
  const statuses = await plans
  loop.disable()
  return {
    inventory,
    planMedianMs: times[Math.floor(times.length / 2)]!,
    planWorstMs: times.at(-1)!,
    soapCallsPerPlan,
    poolsWorstMsDuringPlans: poolsWorst,
    eventLoopWorstMs: loop.max / 1e6,
    concurrentPlansRefused: statuses.filter((status) => status !== 200).length,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  }
}

/** Inventory sizes are VMs in all: the seed's few plus filler. */
export async function benchScale(inventories: number[], say: (line?: string) => void): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = []
  for (const inventory of inventories) {
    say(`inventory of ${inventory} VMs: starting the lab (filler VMs take a while)...`)
    const lab = await startLab({ hosts: 32, filler: Math.max(0, inventory - SEEDED_VMS) })
    try {
      rows.push(await measure(lab, inventory, say))
    } finally {
      await lab.stop()
    }
  }
  const base = rows[0]!
  say()
  say(`Plan of ${PLAN.count} clones (dry run) by inventory size, 32 hosts, no delays; ${RUNS} runs each after one warm-up`)
  say('| VMs | plan median ms | plan worst ms | x smallest | SOAP calls/plan | worst GET /v1/pools ms (4 plans) | worst event-loop delay ms | of 4 plans refused | node RSS MB |')
  say('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    say(
      `| ${r.inventory} | ${r.planMedianMs.toFixed(0)} | ${r.planWorstMs.toFixed(0)} | ${(r.planMedianMs / base.planMedianMs).toFixed(2)} | ` +
        `${r.soapCallsPerPlan.toFixed(1)} | ${r.poolsWorstMsDuringPlans.toFixed(0)} | ${r.eventLoopWorstMs.toFixed(0)} | ${r.concurrentPlansRefused} | ${r.rssMb.toFixed(0)} |`,
    )
  }
  return rows
}

/** The seed's VMs (parents and the name-conflict VM): filler makes up the rest. */
const SEEDED_VMS = 7
