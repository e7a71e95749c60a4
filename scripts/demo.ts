/**
 * npm run demo: a training batch's whole life, through the service's HTTP API. Starts a simulated
 * vCenter seeded like the seed's lab (three parents with a snapshot, custom attributes and
 * customization specs), an embedded PostgreSQL and the service, then:
 *   1. creates three pools of 25 linked clones (one per parent), showing progress;
 *   2. shows two teams sharing the service: another team sees none of these pools, cannot touch them,
 *      and is held to the quota an admin sets;
 *   3. prints the space measured in vCenter: the seed's traditional / thin / linked figures;
 *   4. resizes one pool (25 -> 30: the next free numbers);
 *   5. refreshes one pool (every clone destroyed and made again from the snapshot, 5 at a time);
 *   6. strips every pool back, and prints the space measured again.
 * It ends by writing the space chart of the full batch to a file it names.
 *
 *   npm run demo               # the simulator answers as slowly as a real vCenter
 *   npm run demo -- --fast     # no simulated delays
 *   npm run demo -- --count 10
 */
import { rmSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import Table from 'cli-table3'
// The service's typed client, through the package's own export (as any Node script would use it).
import { createLinkedClonesClient, type Deployment, type LinkedClonesClient } from 'linked-clone-service/client'
import { startLab } from './lib/lab.js'

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

type Api = LinkedClonesClient

async function main() {
  say(`Linked-clone service demo: a batch's life in pools of ${COUNT} linked clones, one pool per parent of the seed's lab.`)
  const lab = await startLab({
    delays: values.fast ? {} : REALISTIC_DELAYS,
    guestMs: values.fast ? 0 : REALISTIC_GUEST_MS,
    log: (l) => say(`  ${l}`),
  })
  try {
    say(`  service listening on ${lab.baseUrl}; simulated vCenter at ${lab.sim.url}`)
    // The page for people: its token goes to a file only this user can read, not to the output.
    const tokenFile = path.join(os.tmpdir(), `linked-clones-demo-token-${process.pid}`)
    await writeFile(tokenFile, lab.token + '\n', { mode: 0o600 })
    process.once('exit', () => rmSync(tokenFile, { force: true }))
    say(`  the page for people: ${lab.baseUrl}/ui (sign in with the token in ${tokenFile})`)
    if (!values.fast) say(`  simulated vCenter delays: ${Object.entries(REALISTIC_DELAYS).map(([m, d]) => `${m} ${d} ms`).join(', ')}`)
    const api = createLinkedClonesClient({ baseUrl: lab.baseUrl, token: lab.token })
    let failures = 0

    say('')
    say(`1. Create ${POOLS.length} pools of ${COUNT} (POST /v1/pools)`)
    await lab.sim.resetStats()
    const created: Step[] = []
    for (const pool of POOLS) {
      // No startNumber: the service starts each pool at the lowest number whose names are all free.
      const change = await api.createPool({ name: pool.name, parent: pool.parent, size: COUNT })
      created.push({ label: `${pool.name} (${change.pool.prefix}${String(change.pool.startNumber).padStart(2, '0')}..)`, id: change.deploymentIds![0]! })
    }
    const deployed = await follow(api, created)
    const clones = deployed.reduce((n, d) => n + (d.progress?.total ?? 0), 0)
    const stats = await lab.sim.stats()
    say(`   ${clones} linked clones in ${deployed.seconds.toFixed(1)} s (${((clones / deployed.seconds) * 60).toFixed(0)} per minute), ${(stats.total / clones).toFixed(1)} SOAP calls per clone.`)
    say(`   The seed's script, one clone after another, took just over an hour for 75.`)
    say(table(
      ['pool', 'clones', 'ready', 'failed', 'names', 'spec', 'snapshot'],
      deployed.map((d) => [
        d.pool,
        d.count,
        d.progress?.byStatus?.ready ?? 0,
        d.progress?.failed,
        `${d.clones?.[0]?.name}..${d.clones?.at(-1)?.name}`,
        d.customizationSpec,
        d.snapshot?.name,
      ]),
    ))
    failures += reportFailures(deployed)
    say('   Ready means the guest customized: each machine with its guest host name and IP addresses')
    for (const d of deployed) {
      say(`   ${d.pool}:`)
      say(table(
        ['clone', 'guest host name', 'IP addresses', 'customization', 'linked'],
        (d.clones ?? []).map((c) => [
          c.name,
          c.guest?.hostName ?? '-',
          c.guest?.ipAddresses?.join(' ') || '-',
          c.guest?.customization ? `${c.guest.customization.outcome} ${c.guest.customization.eventType ?? ''}`.trim() : '-',
          String(c.linked),
        ]),
      ))
    }

    say('')
    say('2. Two teams share the service: the pools above belong to the team "training"')
    failures += await twoTeams(lab, api)

    say('')
    say('3. Space of the batch, measured in vCenter (GET /v1/reports/space)')
    await reportSpace(api)
    const chart = await writeChart(api)

    say('')
    const grown = POOLS[0]!.name
    say(`4. Resize ${grown} to ${COUNT + GROW_BY} (PATCH /v1/pools/${grown})`)
    const resize = await api.changePool(grown, { size: COUNT + GROW_BY })
    const resized = await follow(api, (resize.deploymentIds ?? []).map((id) => ({ label: grown, id })))
    say(`   added ${resized.flatMap((d) => (d.clones ?? []).map((c) => c.name)).join(', ')} in ${resized.seconds.toFixed(1)} s`)
    failures += reportFailures(resized)

    say('')
    const refreshed = POOLS[1]!.name
    say(`5. Refresh ${refreshed}, at most ${MAX_UNAVAILABLE} clones down at once (POST /v1/pools/${refreshed}/refresh)`)
    const before = await api.pool(refreshed)
    const refresh = await api.refreshPool(refreshed, { maxUnavailable: MAX_UNAVAILABLE })
    const rebuilt = await follow(api, [{ label: refreshed, id: refresh.deploymentIds![0]! }])
    const after = await api.pool(refreshed)
    const oldVms = new Map((before.clones ?? []).map((c) => [c.name, c.moref]))
    const renewed = (after.clones ?? []).filter((c) => oldVms.has(c.name) && oldVms.get(c.name) !== c.moref).length
    say(`   ${renewed} of ${after.clones?.length} clones are new VMs under their old names, made again from "${rebuilt[0]!.snapshot?.name}", in ${rebuilt.seconds.toFixed(1)} s`)
    failures += reportFailures(rebuilt)

    say('')
    say('6. Strip every pool back (DELETE /v1/pools/{name}): clones powered off and destroyed, records kept')
    const strips: Step[] = []
    for (const pool of POOLS) strips.push({ label: pool.name, id: (await api.stripPool(pool.name)).deploymentIds![0]! })
    const stripped = await follow(api, strips)
    const destroyed = stripped.reduce((n, d) => n + (d.progress?.byStatus?.destroyed ?? 0), 0)
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

/**
 * Another team (`qa`) on the same service: it lists no pool of "training", another team's pool is
 * 404 to it (reading or stripping it), and a quota set by an admin refuses its pool past 10 clones.
 * Answers the number of surprises (0 when every refusal happened as it should).
 */
async function twoTeams(lab: Awaited<ReturnType<typeof startLab>>, training: Api): Promise<number> {
  const qa = createLinkedClonesClient({ baseUrl: lab.baseUrl, token: lab.tokenFor('qa-bot', ['qa']) })
  const admin = createLinkedClonesClient({ baseUrl: lab.baseUrl, token: lab.tokenFor('platform-admin', ['platform'], 'admin') })
  let surprises = 0
  const expect = async (what: string, call: () => Promise<unknown>, code: string) => {
    try {
      await call()
      say(`   ${what}: accepted (unexpected)`)
      surprises++
    } catch (err) {
      const got = (err as { code?: string }).code
      say(`   ${what}: ${got}`)
      if (got !== code) surprises++
    }
  }
  const mine = (await training.pools()).map((p) => p.name)
  const theirs = (await qa.pools()).map((p) => p.name)
  say(`   training lists ${mine.length} pools (${mine.join(', ')}); qa lists ${theirs.length}`)
  if (theirs.some((name) => mine.includes(name))) surprises++
  await expect(`qa reads ${POOLS[0]!.name}`, () => qa.pool(POOLS[0]!.name), 'POOL_NOT_FOUND')
  await expect(`qa strips ${POOLS[0]!.name}`, () => qa.stripPool(POOLS[0]!.name), 'POOL_NOT_FOUND')
  await admin.http.PUT('/v1/teams/{team}/quota', { params: { path: { team: 'qa' } }, body: { maxClones: 10 } })
  const quota = await qa.http.GET('/v1/teams/{team}', { params: { path: { team: 'qa' } } })
  say(`   an admin sets qa's quota: ${JSON.stringify(quota.data?.quota ?? quota.error)}`)
  await expect('qa asks for a pool of 12', () => qa.createPool({ name: 'qa-wave', parent: POOLS[0]!.parent, size: 12 }), 'QUOTA_EXCEEDED')
  return surprises
}

/** Follows the deployments with a progress bar each until they all end; answers their final state and how long it took. */
async function follow(api: Api, steps: Step[]): Promise<Deployment[] & { seconds: number }> {
  const started = Date.now()
  const labels = steps.map((s) => s.label)
  const width = Math.max(...labels.map((l) => l.length)) + 14
  // On a terminal, live bars; in a log, a line each time the clones done change (at most every 2 s).
  const bars = tty
    ? new cliProgress.MultiBar(
        { format: '   {label} |{bar}| {value}/{total} {status} {steps}', barsize: 30, hideCursor: true, clearOnComplete: false, stream: process.stdout },
        cliProgress.Presets.shades_classic,
      )
    : undefined
  const latest: (Deployment | undefined)[] = steps.map(() => undefined)
  let logged = ''
  let loggedAt = 0
  const draw = (i: number, d: Deployment, bar?: cliProgress.SingleBar) => {
    latest[i] = d
    const p = d.progress ?? {}
    bar?.setTotal(p.total ?? 0)
    bar?.update(p.done ?? 0, { label: `${labels[i]} (${d.kind})`.padEnd(width), status: (d.status ?? '').padEnd(9), steps: underWay(p.byStatus ?? {}) })
    const line = latest.map((x, j) => `${labels[j]} ${x?.progress?.done ?? 0}/${x?.progress?.total ?? '?'}`).join(', ')
    if (!tty && latest.every(Boolean) && line !== logged && (Date.now() - loggedAt > 2000 || latest.every((x) => x && isFinal(x)))) {
      say(`   ${secondsSince(started)} s: ${line}`)
      logged = line
      loggedAt = Date.now()
    }
  }
  try {
    const final = await Promise.all(
      steps.map((s, i) => {
        const bar = bars?.create(0, 0, { label: s.label.padEnd(width), status: '', steps: '' })
        return api.waitForDeployment(s.id, { intervalMs: 500, timeoutMs: 60 * 60_000, onProgress: (d) => draw(i, d, bar) })
      }),
    )
    return Object.assign(final, { seconds: (Date.now() - started) / 1000 })
  } finally {
    bars?.stop()
  }
}

function reportFailures(deployments: Deployment[]): number {
  let failed = 0
  for (const d of deployments.filter((d) => d.status !== 'succeeded')) {
    failed += 1
    for (const c of (d.clones ?? []).filter((c) => c.error)) say(`   ${c.name}: ${c.error!.code} ${c.error!.message}`)
  }
  return failed
}

const isFinal = (d: Deployment) => d.status === 'succeeded' || d.status === 'failed'
const secondsSince = (t: number) => ((Date.now() - t) / 1000).toFixed(1)

/** "cloning 5, customizing 2": the clones under way, by step. */
function underWay(byStatus: Record<string, number>): string {
  return ['destroying', 'cloning', 'customizing', 'powering_on', 'setting_attributes']
    .filter((s) => byStatus[s])
    .map((s) => `${s.replace('_', ' ')} ${byStatus[s]}`)
    .join(', ')
}

/** No line between two rows: a compact table. */
const NO_ROW_LINES = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }

/** A table (cli-table3), indented under the demo's step. */
function table(head: string[], rows: unknown[][]): string {
  const t = new Table({ head, chars: NO_ROW_LINES, style: tty ? { head: ['cyan'] } : { head: [], border: [] } })
  for (const row of rows) t.push(row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))
  return t.toString().replace(/^/gm, '   ')
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})

/** The seed's space figures, measured in (simulated) vCenter for the service's parents and clones. */
async function reportSpace(api: Api) {
  const report = await api.spaceReport()
  say(`   measured at ${report.measuredAt} (summary.storage; GB = 2^30 bytes):`)
  type Figures = { count?: number; traditionalGB?: number; thinGB?: number; linkedGB?: number }
  const row = (name: string | undefined, g: Figures = {}) => [name, g.count, g.traditionalGB, g.thinGB, g.linkedGB]
  say(table(
    ['parent', 'clones', 'traditional GB', 'thin GB', 'linked GB'],
    [...(report.parents ?? []).map((p) => row(p.name, p)), row('total', report.total)],
  ))
  if (!report.total?.count) return
  const { versusTraditional, versusThin } = report.total.savings ?? {}
  say(`   Linked clones save ${versusTraditional?.gb} GB (${versusTraditional?.percent}%) against full clones and ${versusThin?.gb} GB (${versusThin?.percent}%) against thin ones.`)
  say(`   The seed measured 675 GB traditional, 238.75 GB thin and 19.3 GB as linked clones for 3 x 25.`)
}

/** The space chart (GET /v1/reports/space.svg), written to a temporary file whose name is answered. */
async function writeChart(api: Api): Promise<string> {
  const file = path.join(os.tmpdir(), 'linked-clones-space-report.svg')
  await writeFile(file, await api.spaceChart())
  return file
}
