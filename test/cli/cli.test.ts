/**
 * The `linked-clones` command against the lab: the service (simulator + real PostgreSQL) listening on
 * a loopback port, the command run as a child process with LINKED_CLONES_URL and LINKED_CLONES_TOKEN.
 * What the command reports is checked against the service's own records.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCli } from '../helpers/cli.js'
import { startTestService, type TestService } from '../helpers/service.js'

let service: TestService
let env: Record<string, string>

t.before(async () => {
  service = await startTestService()
  await service.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = service.app.server.address() as AddressInfo
  env = { LINKED_CLONES_URL: `http://127.0.0.1:${port}`, LINKED_CLONES_TOKEN: service.token('deployments:read deployments:write parents:write') }
})
t.teardown(async () => {
  await service?.stop()
})

const api = async (url: string) => (await service.app.inject({ method: 'GET', url, headers: service.auth('deployments:read') })).json()

t.test('deploy --wait: follows the deployment to its end; the clones exist', async (t) => {
  const run = await runCli(['deploy', 'Tmpl Capture 1.0', '--count', '3', '--prefix', 'Cli', '--start-number', '1', '--ticket', 'RITM0001', '--wait', '--json'], env)
  t.equal(run.code, 0, run.stderr)
  const deployment = JSON.parse(run.stdout)
  t.equal(deployment.status, 'succeeded')
  t.same(deployment.clones.map((c: any) => c.name), ['Cli01', 'Cli02', 'Cli03'])

  const { clones } = await api('/v1/clones?prefix=Cli')
  t.same(clones.map((c: any) => [c.name, c.status, c.ticket, c.deploymentId]).sort(), [
    ['Cli01', 'ready', 'RITM0001', deployment.id],
    ['Cli02', 'ready', 'RITM0001', deployment.id],
    ['Cli03', 'ready', 'RITM0001', deployment.id],
  ])
  t.ok(clones.every((c: any) => /^vm-/.test(c.moref)), 'each clone has its VM in vCenter')

  t.test('status ID: the deployment, its steps and clones, as a table', async (t) => {
    const status = await runCli(['status', deployment.id], env)
    t.equal(status.code, 0, status.stderr)
    t.match(status.stdout, /status\s*│\s*succeeded/)
    t.match(status.stdout, 'clone 3/3, customize 3/3, power on 3/3, attributes 3/3')
    for (const name of ['Cli01', 'Cli02', 'Cli03']) t.match(status.stdout, name)
  })

  t.test('status ID --watch on a finished deployment answers at once, exit 0', async (t) => {
    const status = await runCli(['status', deployment.id, '--watch', '--json'], env)
    t.equal(status.code, 0, status.stderr)
    t.equal(JSON.parse(status.stdout).id, deployment.id)
  })

  t.test('clones ls --json: the records the API answers', async (t) => {
    const list = await runCli(['clones', 'ls', '--prefix', 'Cli', '--json'], env)
    t.equal(list.code, 0, list.stderr)
    const listed = JSON.parse(list.stdout)
    t.same(listed.map((c: any) => c.name).sort(), ['Cli01', 'Cli02', 'Cli03'])
    t.same(listed, clones.filter((c: any) => listed.some((l: any) => l.name === c.name)))
    const limited = await runCli(['clones', 'ls', '--prefix', 'Cli', '--limit', '2', '--json'], env)
    t.equal(JSON.parse(limited.stdout).length, 2)
  })

  t.test('clones show: provenance and attributes', async (t) => {
    const show = await runCli(['clones', 'show', 'Cli02'], env)
    t.equal(show.code, 0, show.stderr)
    t.match(show.stdout, /parent\s*│\s*Tmpl Capture 1\.0/)
    t.match(show.stdout, /Template\s*│\s*Tmpl Capture 1\.0/)
  })
})

t.test('pools create --wait, then strip --wait: the clones are made, then destroyed; the pool is kept stripped', async (t) => {
  const created = await runCli(['pools', 'create', 'cli-pool', '--parent', 'Tmpl Packaging 1.0', '--size', '2', '--prefix', 'CliPool', '--start-number', '1', '--wait', '--json'], env)
  t.equal(created.code, 0, created.stderr)
  const change = JSON.parse(created.stdout)
  t.equal(change.pool.name, 'cli-pool')
  t.same(change.deployments.map((d: any) => [d.kind, d.status]), [['deploy', 'succeeded']])
  let pool = await api('/v1/pools/cli-pool')
  t.same(pool.clones.map((c: any) => [c.name, c.status]), [['CliPool01', 'ready'], ['CliPool02', 'ready']])

  const ls = await runCli(['pools', 'ls'], env)
  t.equal(ls.code, 0, ls.stderr)
  t.match(ls.stdout, /cli-pool\s*│\s*active\s*│\s*Tmpl Packaging 1\.0\s*│\s*Base\s*│\s*CliPool\s*│\s*1\s*│\s*2/)

  const resized = await runCli(['pools', 'resize', 'cli-pool', '--size', '3', '--wait', '--json'], env)
  t.equal(resized.code, 0, resized.stderr)
  t.same(JSON.parse(resized.stdout).deployments.map((d: any) => d.clones.map((c: any) => [c.name, c.status])), [[['CliPool03', 'ready']]])
  const show = await runCli(['pools', 'show', 'cli-pool'], env)
  t.equal(show.code, 0, show.stderr)
  for (const name of ['CliPool01', 'CliPool02', 'CliPool03']) t.match(show.stdout, new RegExp(`${name}\\s*│\\s*ready`))
  const noSize = await runCli(['pools', 'resize', 'cli-pool'], env)
  t.equal(noSize.code, 2, 'resize without --size nor --expires-at is a usage error')

  const stripped = await runCli(['pools', 'strip', 'cli-pool', '--wait', '--json'], env)
  t.equal(stripped.code, 0, stripped.stderr)
  const [strip] = JSON.parse(stripped.stdout).deployments
  t.same([strip.kind, strip.status], ['strip', 'succeeded'])
  t.same(strip.clones.map((c: any) => [c.name, c.status]), [['CliPool01', 'destroyed'], ['CliPool02', 'destroyed'], ['CliPool03', 'destroyed']])
  pool = await api('/v1/pools/cli-pool')
  t.equal(pool.status, 'stripped')
  t.equal((await api('/v1/clones/CliPool01')).status, 'destroyed', 'the record is kept, destroyed')
  t.same((await api('/v1/clones?prefix=CliPool')).clones, [], 'no live clone left')

  const again = await runCli(['pools', 'strip', 'cli-pool'], env)
  t.not(again.code, 0, 'a stripped pool is not stripped again')
  t.match(again.stderr, /^[A-Z_]+: /)
})

t.test('a refused request: its code and message on stderr, exit 1, nothing recorded', async (t) => {
  const run = await runCli(['deploy', 'No Such Parent', '--count', '2', '--prefix', 'Nope', '--start-number', '1'], env)
  t.equal(run.code, 1)
  t.match(run.stderr, /^PARENT_NOT_FOUND: .*No Such Parent/)
  t.equal(run.stdout, '')
  t.same((await api('/v1/clones?prefix=Nope')).clones, [])

  const pool = await runCli(['pools', 'show', 'no-such-pool', '--json'], env)
  t.equal(pool.code, 1)
  t.match(pool.stderr, /^POOL_NOT_FOUND: /)
})

t.test('a name conflict prints the details naming the clones in the way', async (t) => {
  const run = await runCli(['deploy', 'Tmpl Capture 1.0', '--count', '2', '--prefix', 'Cli', '--start-number', '3'], env)
  t.equal(run.code, 1)
  t.match(run.stderr, /^NAME_CONFLICT: /)
  t.match(run.stderr, /details: .*Cli03/)
})

t.test('--snapshot: the plan names it; an unknown one is refused and nothing is made', async (t) => {
  const plan = await runCli(['deploy', 'Tmpl Capture 1.0', '--count', '1', '--prefix', 'Snap', '--snapshot', 'Base', '--dry-run', '--json'], env)
  t.equal(plan.code, 0, plan.stderr)
  t.equal(JSON.parse(plan.stdout).snapshot.name, 'Base')
  const run = await runCli(['deploy', 'Tmpl Capture 1.0', '--count', '1', '--prefix', 'Snap', '--start-number', '1', '--snapshot', 'Not This One'], env)
  t.equal(run.code, 1)
  t.match(run.stderr, /^SNAPSHOT_NOT_FOUND: /)
  t.same((await api('/v1/clones?prefix=Snap')).clones, [])
})

t.test('no token: a clear message, the usage exit code, no request made', async (t) => {
  const run = await runCli(['clones', 'ls'], { LINKED_CLONES_URL: env.LINKED_CLONES_URL })
  t.equal(run.code, 2)
  t.match(run.stderr, /^MISSING_TOKEN: .*LINKED_CLONES_TOKEN/)
})

t.test('a token the service refuses: UNAUTHORIZED, exit 1; --token overrides the environment', async (t) => {
  const bad = await runCli(['clones', 'ls'], { ...env, LINKED_CLONES_TOKEN: 'not-a-jwt' })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^UNAUTHORIZED: /)
  const good = await runCli(['clones', 'ls', '--prefix', 'Cli', '--json', '--token', env.LINKED_CLONES_TOKEN!], { ...env, LINKED_CLONES_TOKEN: 'not-a-jwt' })
  t.equal(good.code, 0, good.stderr)
  const readOnly = await runCli(['pools', 'strip', 'anything', '--token', service.token('deployments:read')], env)
  t.equal(readOnly.code, 1)
  t.match(readOnly.stderr, /^FORBIDDEN: /)
})

t.test('usage errors exit 2; an unreachable service exits 3', async (t) => {
  const missing = await runCli(['deploy', 'Tmpl Capture 1.0'], env)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--count/)
  const bad = await runCli(['deploy', 'Tmpl Capture 1.0', '--count', 'many'], env)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^INVALID_ARGUMENT: --count/)
  const unknown = await runCli(['pools', 'frobnicate'], env)
  t.equal(unknown.code, 2)
  const gone = await runCli(['clones', 'ls'], { ...env, LINKED_CLONES_URL: 'http://127.0.0.1:1' })
  t.equal(gone.code, 3)
  t.match(gone.stderr, /^UNREACHABLE: /)
})

t.test('parents ls and snapshots; report space with --svg', async (t) => {
  const parents = await runCli(['parents', 'ls', '--json'], env)
  t.equal(parents.code, 0, parents.stderr)
  const capture = JSON.parse(parents.stdout).find((p: any) => p.name === 'Tmpl Capture 1.0')
  t.equal(capture?.ready, true)

  const snapshots = await runCli(['parents', 'snapshots', 'Tmpl Capture 1.0', '--json'], env)
  t.equal(snapshots.code, 0, snapshots.stderr)
  const current = JSON.parse(snapshots.stdout).snapshots.find((s: any) => s.current)
  t.equal(current?.liveClones, 3, 'the three clones deployed above')

  const dir = await mkdtemp(path.join(os.tmpdir(), 'cli-report-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const svg = path.join(dir, 'space.svg')
  const report = await runCli(['report', 'space', '--svg', svg], env)
  t.equal(report.code, 0, report.stderr)
  t.match(report.stdout, /Tmpl Capture 1\.0\s*│\s*3\s*│/)
  t.match(report.stdout, /total/)
  t.match(await readFile(svg, 'utf8'), /^<svg|^<\?xml/)
})

t.test('deploy without --wait answers at once; status --watch follows it to its end', async (t) => {
  const run = await runCli(['deploy', 'Tmpl Verification 1.0', '--count', '2', '--prefix', 'Watch', '--start-number', '1', '--json'], env)
  t.equal(run.code, 0, run.stderr)
  const accepted = JSON.parse(run.stdout)
  t.match(accepted.status, /^(queued|running|succeeded)$/)
  const watch = await runCli(['status', accepted.id, '--watch', '--json'], env)
  t.equal(watch.code, 0, watch.stderr)
  const final = JSON.parse(watch.stdout)
  t.equal(final.status, 'succeeded')
  t.same(final.clones.map((c: any) => [c.name, c.status]), [['Watch01', 'ready'], ['Watch02', 'ready']])
  t.equal((await api(`/v1/deployments/${accepted.id}`)).status, 'succeeded')
})

t.test('deploy --dry-run: the plan, and nothing recorded', async (t) => {
  const run = await runCli(['deploy', 'Tmpl Verification 1.0', '--count', '2', '--prefix', 'Dry', '--start-number', '1', '--dry-run', '--json'], env)
  t.equal(run.code, 0, run.stderr)
  const plan = JSON.parse(run.stdout)
  t.equal(plan.dryRun, true)
  t.same(plan.clones.map((c: any) => c.name), ['Dry01', 'Dry02'])
  t.same((await api('/v1/clones?prefix=Dry')).clones, [])
})

t.test('parents prepare --wait: a new snapshot, current afterwards', async (t) => {
  const run = await runCli(['parents', 'prepare', 'Tmpl Kiosk 1.0', '--snapshot-name', 'Cli Snapshot', '--wait', '--json'], env)
  t.equal(run.code, 0, run.stderr)
  const preparation = JSON.parse(run.stdout)
  t.equal(preparation.status, 'succeeded')
  t.equal(preparation.snapshot.name, 'Cli Snapshot')
  const snapshots = await api(`/v1/parents/${encodeURIComponent('Tmpl Kiosk 1.0')}/snapshots`)
  t.equal(snapshots.snapshots.find((s: any) => s.current)?.name, 'Cli Snapshot')
})
