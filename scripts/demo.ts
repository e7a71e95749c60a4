/**
 * npm run demo: the seed's job, through the service. Starts a simulated vCenter seeded like the
 * seed's lab (three parents with a snapshot, custom attributes and customization specs), an
 * embedded PostgreSQL and the service, then deploys 25 linked clones of each parent through the
 * HTTP API, showing progress, and prints the elapsed time and a summary per parent.
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
const PARENTS = ['Tmpl Capture 1.0', 'Tmpl Packaging 1.0', 'Tmpl Verification 1.0']
/** A real vCenter takes about this long for each step of a linked clone. */
const REALISTIC_DELAYS = { CloneVM_Task: 1000, CustomizeVM_Task: 200, PowerOnVM_Task: 200 }

const say = (line: string) => process.stdout.write(line + '\n')
const tty = process.stdout.isTTY

async function main() {
  say(`Linked-clone service demo: ${PARENTS.length} x ${COUNT} linked clones, as the seed's script made them by hand.`)
  const lab = await startLab({ delays: values.fast ? {} : REALISTIC_DELAYS, log: (l) => say(`  ${l}`) })
  try {
    say(`  service listening on ${lab.baseUrl}; simulated vCenter at ${lab.sim.url}`)
    if (!values.fast) say(`  simulated vCenter delays: ${Object.entries(REALISTIC_DELAYS).map(([m, d]) => `${m} ${d} ms`).join(', ')}`)
    const api = apiClient(lab)
    const started = Date.now()
    const deployments: { parent: string; id: string }[] = []
    for (const parent of PARENTS) {
      const res = await api('POST', '/v1/deployments', { parent, count: COUNT, startNumber: 1, ticket: 'DEMO-0001' })
      if (res.status !== 202) throw new Error(`POST /v1/deployments for ${parent}: ${res.status} ${JSON.stringify(res.body)}`)
      deployments.push({ parent, id: res.body.id })
      say(`  accepted: ${parent} -> /v1/deployments/${res.body.id}`)
    }
    say('')

    let last: any[] = []
    let drawn = 0
    for (;;) {
      last = await Promise.all(deployments.map((d) => api('GET', `/v1/deployments/${d.id}`).then((r) => r.body)))
      const lines = last.map(progressLine)
      if (tty && drawn) process.stdout.write(`\x1b[${drawn}A`)
      if (tty || last.every(isFinal)) {
        for (const line of lines) process.stdout.write(`${tty ? '\x1b[2K' : ''}${line}\n`)
        drawn = lines.length
      } else {
        say(`  ${secondsSince(started)} s: ${last.map((d) => `${d.prefix} ${d.progress.done}/${d.progress.total}`).join(', ')}`)
      }
      if (last.every(isFinal)) break
      await new Promise((r) => setTimeout(r, 500))
    }

    const elapsed = (Date.now() - started) / 1000
    const stats = await lab.sim.stats()
    const total = last.reduce((n, d) => n + d.progress.total, 0)
    const ready = last.reduce((n, d) => n + (d.progress.byStatus.ready ?? 0), 0)
    say('')
    say(`Deployed ${ready} of ${total} linked clones in ${elapsed.toFixed(1)} s (${((ready / elapsed) * 60).toFixed(0)} clones per minute).`)
    say(`The seed's script, one clone after another, took just over an hour for 75.`)
    say(`SOAP calls at the simulator: ${stats.total} (${(stats.total / total).toFixed(1)} per clone).`)
    say('')
    say(table([
      ['parent', 'clones', 'ready', 'failed', 'names', 'spec', 'snapshot', 'seconds'],
      ...last.map((d) => [
        d.parent.name,
        String(d.count),
        String(d.progress.byStatus.ready ?? 0),
        String(d.progress.failed),
        `${d.clones[0]?.name}..${d.clones.at(-1)?.name}`,
        d.customizationSpec,
        d.snapshot.name,
        String(d.durationSeconds ?? ''),
      ]),
    ]))
    const failed = last.filter((d) => d.status !== 'succeeded')
    for (const d of failed) {
      for (const c of d.clones.filter((c: any) => c.error)) say(`  ${c.name}: ${c.error.code} ${c.error.message}`)
    }
    say('')
    await reportSpace(lab)
    process.exitCode = failed.length ? 1 : 0
  } finally {
    await lab.stop()
  }
}

const isFinal = (d: any) => d.status === 'succeeded' || d.status === 'failed'
const secondsSince = (t: number) => ((Date.now() - t) / 1000).toFixed(1)

function progressLine(d: any): string {
  const width = 30
  const { total, done, byStatus } = d.progress
  const filled = Math.round((done / total) * width)
  const steps = ['cloning', 'customizing', 'powering_on', 'setting_attributes']
    .filter((s) => byStatus[s])
    .map((s) => `${s.replace('_', ' ')} ${byStatus[s]}`)
    .join(', ')
  return `  ${d.parent.name.padEnd(22)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(3)}/${total} ${d.status.padEnd(9)} ${steps}`
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})

/**
 * The seed's space figures, measured in (simulated) vCenter for the parents and clones just made, and
 * the chart of them written to a file named on the last line.
 */
async function reportSpace(lab: Lab) {
  const api = apiClient(lab)
  const { status, body: report } = await api('GET', '/v1/reports/space')
  if (status !== 200) throw new Error(`GET /v1/reports/space: ${status} ${JSON.stringify(report)}`)
  say(`Disk space measured in vCenter at ${report.measuredAt} (summary.storage; GB = 2^30 bytes):`)
  const row = (name: string, g: any) => [name, String(g.count), String(g.traditionalGB), String(g.thinGB), String(g.linkedGB)]
  say(table([
    ['parent', 'clones', 'traditional GB', 'thin GB', 'linked GB'],
    ...report.parents.map((p: any) => row(p.name, p)),
    row('total', report.total),
  ]))
  const { versusTraditional, versusThin } = report.total.savings
  say(`Linked clones save ${versusTraditional.gb} GB (${versusTraditional.percent}%) against full clones and ${versusThin.gb} GB (${versusThin.percent}%) against thin ones.`)
  say(`The seed measured 675 GB traditional, 238.75 GB thin and 19.3 GB as linked clones for 3 x 25.`)

  const chart = await fetch(`${lab.baseUrl}/v1/reports/space.svg`, { headers: { authorization: `Bearer ${lab.token}` } })
  if (!chart.ok) throw new Error(`GET /v1/reports/space.svg: ${chart.status}`)
  const file = path.join(os.tmpdir(), 'linked-clones-space-report.svg')
  await writeFile(file, await chart.text())
  say(`Chart (SVG, open it in a browser): ${file}`)
}
