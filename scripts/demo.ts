/**
 * npm run demo: a training batch's whole life, through the service's HTTP API. Starts a simulated
 * vCenter seeded like the seed's lab (three parents with a snapshot, custom attributes and
 * customization specs), an embedded PostgreSQL and the service, then:
 *   1. creates three pools of 25 linked clones (one per parent), showing progress;
 *   2. prints the space measured in vCenter: the seed's traditional / thin / linked figures;
 *   3. resizes one pool (25 -> 30: the next free numbers);
 *   4. refreshes one pool (every clone destroyed and made again from the snapshot, 5 at a time);
 *   5. strips every pool back, and prints the space measured again.
 * It ends by writing the space chart of the full batch to a file it names.
 *
 *   npm run demo               # the simulator answers as slowly as a real vCenter
 *   npm run demo -- --fast     # no simulated delays
 *   npm run demo -- --count 10
 */
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { apiClient, startLab, type Lab } from './lib/lab.js'

const { values } = parseArgs({
  options: { fast: { type: 'boolean', default: false }, count: { type: 'string', default: '25' } },
})
const COUNT = Number(values.count)
const POOLS = [
  { name: 'capture-training', parent: 'Tmpl Capture 1.0' },
  { name: 'packaging-line', parent: 'Tmpl Packaging 1.0' },
  { name: 'verification-lab', parent: 'Tmpl Verification 1.0' },
]
/** How many clones grow onto the first pool, and how many of the second's may be down at once while it refreshes. */
const GROW_BY = 5
const MAX_UNAVAILABLE = 5
/** A real vCenter takes about this long for each step of a linked clone. */
const REALISTIC_DELAYS = { CloneVM_Task: 1000, CustomizeVM_Task: 200, PowerOnVM_Task: 200 }
/** The guest's customization after power-on (Sysprep takes minutes on a real vCenter; shortened here). */
const REALISTIC_GUEST_MS = 5000

const say = (line: string) => process.stdout.write(line + '\n')
const tty = process.stdout.isTTY

type Api = ReturnType<typeof apiClient>

async function main() {
  say(`Linked-clone service demo: a batch's life in pools of ${COUNT} linked clones, one pool per parent of the seed's lab.`)
  const lab = await startLab({
    delays: values.fast ? {} : REALISTIC_DELAYS,
    guestMs: values.fast ? 0 : REALISTIC_GUEST_MS,
    log: (l) => say(`  ${l}`),
  })
  try {
    say(`  service listening on ${lab.baseUrl}; simulated vCenter at ${lab.sim.url}`)
    if (!values.fast) say(`  simulated vCenter delays: ${Object.entries(REALISTIC_DELAYS).map(([m, d]) => `${m} ${d} ms`).join(', ')}`)
    const api = apiClient(lab)
    let failures = 0

    say('')
    say(`1. Create ${POOLS.length} pools of ${COUNT} (POST /v1/pools)`)
    await lab.sim.resetStats()
    const created: Step[] = []
    for (const pool of POOLS) {
      const res = await expect(api, 'POST', '/v1/pools', { name: pool.name, parent: pool.parent, startNumber: 1, size: COUNT }, 202)
      created.push({ label: pool.name, id: res.deploymentId })
    }
    const deployed = await follow(api, created)
    const clones = deployed.reduce((n, d) => n + d.progress.total, 0)
    const stats = await lab.sim.stats()
    say(`   ${clones} linked clones in ${deployed.seconds.toFixed(1)} s (${((clones / deployed.seconds) * 60).toFixed(0)} per minute), ${(stats.total / clones).toFixed(1)} SOAP calls per clone.`)
    say(`   The seed's script, one clone after another, took just over an hour for 75.`)
    say(table([
      ['pool', 'clones', 'ready', 'failed', 'names', 'spec', 'snapshot'],
      ...deployed.map((d) => [
        d.pool,
        String(d.count),
        String(d.progress.byStatus.ready ?? 0),
        String(d.progress.failed),
        `${d.clones[0]?.name}..${d.clones.at(-1)?.name}`,
        d.customizationSpec,
        d.snapshot.name,
      ]),
    ]))
    failures += reportFailures(deployed)
    say('   Ready means the guest customized: each machine with its guest host name and IP addresses')
    for (const d of deployed) {
      say(`   ${d.pool}:`)
      say(table([
        ['clone', 'guest host name', 'IP addresses', 'customization', 'linked'],
        ...d.clones.map((c: any) => [
          c.name,
          c.guest?.hostName ?? '-',
          c.guest?.ipAddresses?.join(' ') || '-',
          c.guest?.customization ? `${c.guest.customization.outcome} ${c.guest.customization.eventType ?? ''}`.trim() : '-',
          String(c.linked),
        ]),
      ]))
    }

    say('')
    say('2. Space of the batch, measured in vCenter (GET /v1/reports/space)')
    await reportSpace(api)
    const chart = await writeChart(lab)

    say('')
    const grown = POOLS[0]!.name
    say(`3. Resize ${grown} to ${COUNT + GROW_BY} (PATCH /v1/pools/${grown})`)
    const resize = await expect(api, 'PATCH', `/v1/pools/${grown}`, { size: COUNT + GROW_BY }, 202)
    const resized = await follow(api, resize.deploymentIds.map((id: string) => ({ label: grown, id })))
    say(`   added ${resized.flatMap((d) => d.clones.map((c: any) => c.name)).join(', ')} in ${resized.seconds.toFixed(1)} s`)
    failures += reportFailures(resized)

    say('')
    const refreshed = POOLS[1]!.name
    say(`4. Refresh ${refreshed}, at most ${MAX_UNAVAILABLE} clones down at once (POST /v1/pools/${refreshed}/refresh)`)
    const before = await api('GET', `/v1/pools/${refreshed}`)
    const refresh = await expect(api, 'POST', `/v1/pools/${refreshed}/refresh`, { maxUnavailable: MAX_UNAVAILABLE }, 202)
    const rebuilt = await follow(api, [{ label: refreshed, id: refresh.deploymentId }])
    const after = await api('GET', `/v1/pools/${refreshed}`)
    const oldVms = new Map(before.body.clones.map((c: any) => [c.name, c.moref]))
    const renewed = after.body.clones.filter((c: any) => oldVms.has(c.name) && oldVms.get(c.name) !== c.moref).length
    say(`   ${renewed} of ${after.body.clones.length} clones are new VMs under their old names, made again from "${rebuilt[0]!.snapshot.name}", in ${rebuilt.seconds.toFixed(1)} s`)
    failures += reportFailures(rebuilt)

    say('')
    say('5. Strip every pool back (DELETE /v1/pools/{name}): clones powered off and destroyed, records kept')
    const strips: Step[] = []
    for (const pool of POOLS) strips.push({ label: pool.name, id: (await expect(api, 'DELETE', `/v1/pools/${pool.name}`, undefined, 202)).deploymentId })
    const stripped = await follow(api, strips)
    const destroyed = stripped.reduce((n, d) => n + (d.progress.byStatus.destroyed ?? 0), 0)
    say(`   ${destroyed} clones destroyed in ${stripped.seconds.toFixed(1)} s; the parents and their snapshots are untouched`)
    failures += reportFailures(stripped)
    say('')
    say('   Space measured again:')
    await reportSpace(api)

    say('')
    say(`Chart of the batch's space (SVG, open it in a browser): ${chart}`)
    process.exitCode = failures ? 1 : 0
  } finally {
    await lab.stop()
  }
}

interface Step {
  label: string
  id: string
}

/** Calls the API and stops the demo, saying why, when the answer is not the expected status. */
async function expect(api: Api, method: string, url: string, body: unknown, status: number): Promise<any> {
  const res = await api(method, url, body)
  if (res.status !== status) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Draws the deployments' progress until they all end; answers their final state and how long it took. */
async function follow(api: Api, steps: Step[]): Promise<any[] & { seconds: number }> {
  const started = Date.now()
  let last: any[]
  let drawn = 0
  for (;;) {
    last = await Promise.all(steps.map((s) => api('GET', `/v1/deployments/${s.id}`).then((r) => r.body)))
    const lines = last.map((d, i) => progressLine(steps[i]!.label, d))
    if (tty && drawn) process.stdout.write(`\x1b[${drawn}A`)
    if (tty || last.every(isFinal)) {
      for (const line of lines) process.stdout.write(`${tty ? '\x1b[2K' : ''}${line}\n`)
      drawn = lines.length
    } else {
      say(`   ${secondsSince(started)} s: ${last.map((d, i) => `${steps[i]!.label} ${d.progress.done}/${d.progress.total}`).join(', ')}`)
    }
    if (last.every(isFinal)) break
    await new Promise((r) => setTimeout(r, 500))
  }
  return Object.assign(last, { seconds: (Date.now() - started) / 1000 })
}

function reportFailures(deployments: any[]): number {
  let failed = 0
  for (const d of deployments.filter((d) => d.status !== 'succeeded')) {
    failed += 1
    for (const c of d.clones.filter((c: any) => c.error)) say(`   ${c.name}: ${c.error.code} ${c.error.message}`)
  }
  return failed
}

const isFinal = (d: any) => d.status === 'succeeded' || d.status === 'failed'
const secondsSince = (t: number) => ((Date.now() - t) / 1000).toFixed(1)

function progressLine(label: string, d: any): string {
  const width = 30
  const { total, done, byStatus } = d.progress
  const filled = total ? Math.round((done / total) * width) : width
  const steps = ['destroying', 'cloning', 'customizing', 'powering_on', 'setting_attributes']
    .filter((s) => byStatus[s])
    .map((s) => `${s.replace('_', ' ')} ${byStatus[s]}`)
    .join(', ')
  return `   ${`${label} (${d.kind})`.padEnd(30)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(3)}/${total} ${d.status.padEnd(9)} ${steps}`
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => '   ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})

/** The seed's space figures, measured in (simulated) vCenter for the service's parents and clones. */
async function reportSpace(api: Api) {
  const report = await expect(api, 'GET', '/v1/reports/space', undefined, 200)
  say(`   measured at ${report.measuredAt} (summary.storage; GB = 2^30 bytes):`)
  const row = (name: string, g: any) => [name, String(g.count), String(g.traditionalGB), String(g.thinGB), String(g.linkedGB)]
  say(table([
    ['parent', 'clones', 'traditional GB', 'thin GB', 'linked GB'],
    ...report.parents.map((p: any) => row(p.name, p)),
    row('total', report.total),
  ]))
  if (report.total.count === 0) return
  const { versusTraditional, versusThin } = report.total.savings
  say(`   Linked clones save ${versusTraditional.gb} GB (${versusTraditional.percent}%) against full clones and ${versusThin.gb} GB (${versusThin.percent}%) against thin ones.`)
  say(`   The seed measured 675 GB traditional, 238.75 GB thin and 19.3 GB as linked clones for 3 x 25.`)
}

/** The space chart (GET /v1/reports/space.svg), written to a temporary file whose name is answered. */
async function writeChart(lab: Lab): Promise<string> {
  const chart = await fetch(`${lab.baseUrl}/v1/reports/space.svg`, { headers: { authorization: `Bearer ${lab.token}` } })
  if (!chart.ok) throw new Error(`GET /v1/reports/space.svg: ${chart.status}`)
  const file = path.join(os.tmpdir(), 'linked-clones-space-report.svg')
  await writeFile(file, await chart.text())
  return file
}
