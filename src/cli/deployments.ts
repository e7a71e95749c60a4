/** `deploy` and `status`: a deployment of linked clones, and following one. */
import type { Command } from 'commander'
import { LinkedClonesError, type DeployBody, type Deployment } from '../client/index.js'
import { collect, contextOf, EXIT, integer, record, table, type Context } from './context.js'
import { followDeployments, isFinal, stepsOf, passed, underWay } from './progress.js'

/** Default --timeout of --wait and --watch, in seconds. */
export const DEFAULT_WAIT_SECONDS = 3600

/** The dry run's answer (POST /v1/deployments with dryRun), read loosely: older documents do not describe it. */
interface Plan {
  parent?: { name?: string }
  snapshot?: { name?: string; moref?: string }
  customizationSpec?: string
  clones?: { name: string; host: string }[]
  hosts?: { name: string; clones: number }[]
  checks?: { check: string; passed: boolean; detail?: string }[]
  warnings?: { code?: string; message?: string }[]
  estimate?: { seconds?: number }
}

export function registerDeploymentCommands(program: Command): void {
  program
    .command('deploy')
    .description('deploy COUNT linked clones of PARENT (names PREFIX01, PREFIX02...)')
    .argument('<parent>', 'the parent VM, e.g. "Tmpl Capture 1.0"')
    .requiredOption('-n, --count <n>', 'how many clones', integer('--count', 1, 1000))
    .option('-p, --prefix <prefix>', "the clones' name prefix (default: the parent name's second word)")
    .option('--start-number <n>', 'the first number (omitted: the service chooses the lowest from which every name is free, once it supports that; before, it is required)', integer('--start-number', 0, 999_999))
    .option('-s, --snapshot <snapshot>', "refuse unless this is the parent's current snapshot (name or moref): the one clones are made from")
    .option('-t, --ticket <ticket>', 'an external reference recorded with every clone, e.g. RITM0012345')
    .option('-a, --attribute <name>', 'a custom attribute to copy from the parent (repeat; default the usual ten)', collect)
    .option('--host-limit <n>', 'at most this many hosts for the clones', integer('--host-limit', 1, 64))
    .option('--max-concurrent <n>', "this deployment's vCenter operations at once", integer('--max-concurrent', 1, 1000))
    .option('--dry-run', 'answer the plan (names, hosts, checks, estimate); change nothing')
    .option('-w, --wait', 'follow the deployment until it ends (exit 4 when it failed)')
    .option('--timeout <seconds>', 'how long --wait waits', integer('--timeout', 1, 86_400), DEFAULT_WAIT_SECONDS)
    .action(async (parent: string, options, command: Command) => {
      const ctx = contextOf(command)
      if (options.snapshot) await checkCurrentSnapshot(ctx, parent, options.snapshot)
      const body: DeployBody = {
        parent,
        count: options.count,
        ...(options.startNumber !== undefined ? { startNumber: options.startNumber } : {}),
        ...(options.prefix ? { prefix: options.prefix } : {}),
        ...(options.ticket ? { ticket: options.ticket } : {}),
        ...(options.attribute ? { attributes: options.attribute } : {}),
        ...(options.hostLimit ? { hostLimit: options.hostLimit } : {}),
        ...(options.maxConcurrent ? { maxConcurrent: options.maxConcurrent } : {}),
        ...(options.dryRun ? { dryRun: true } : {}),
      }
      const answer = await ctx.client.deploy(body)
      if (options.dryRun) return printPlan(ctx, answer as Plan)
      const deployment = answer as Deployment
      if (!options.wait) return printDeployment(ctx, deployment)
      if (!ctx.json) ctx.out(`deployment ${deployment.id} accepted: ${describeNames(deployment)} from "${deployment.snapshot?.name}"`)
      const [final] = await followDeployments(ctx, [deployment.id!], options.timeout * 1000)
      printDeployment(ctx, final!)
      if (final!.status !== 'succeeded') process.exitCode = EXIT.failed
    })

  program
    .command('status')
    .description("a deployment's status, progress per step and clones")
    .argument('<id>', "the deployment's id")
    .option('-w, --watch', 'follow it with live progress bars until it ends (exit 4 when it failed)')
    .option('--timeout <seconds>', 'how long --watch waits', integer('--timeout', 1, 86_400), DEFAULT_WAIT_SECONDS)
    .action(async (id: string, options, command: Command) => {
      const ctx = contextOf(command)
      let deployment = await ctx.client.deployment(id)
      if (options.watch && !isFinal(deployment)) deployment = (await followDeployments(ctx, [id], options.timeout * 1000))[0]!
      printDeployment(ctx, deployment)
      if (options.watch && deployment.status !== 'succeeded') process.exitCode = EXIT.failed
    })
}

/** --snapshot: the service clones from the parent's current snapshot; refuse when that is not the one named. */
async function checkCurrentSnapshot(ctx: Context, parent: string, wanted: string): Promise<void> {
  const { snapshots } = await ctx.client.snapshots(parent)
  const current = snapshots?.find((s) => s.current)
  if (!current || (current.name !== wanted && current.moref !== wanted)) {
    throw new LinkedClonesError(
      'SNAPSHOT_NOT_CURRENT',
      `"${wanted}" is not the current snapshot of ${parent} (${current ? `"${current.name}" is` : 'it has none'}); linked clones are made from the current one`,
      409,
      { current: current?.name ?? null },
    )
  }
}

const describeNames = (d: Deployment) => {
  const clones = d.clones ?? []
  const names = clones.length > 1 ? `${clones[0]!.name}..${clones.at(-1)!.name}` : (clones[0]?.name ?? '')
  return `${clones.length} clone${clones.length === 1 ? '' : 's'} ${names} of "${d.parent?.name}"`
}

export function printDeployment(ctx: Context, d: Deployment): void {
  if (ctx.json) return ctx.printJson(d)
  const p = d.progress ?? {}
  const byStatus = (p.byStatus ?? {}) as Record<string, number>
  ctx.out(
    record([
      ['id', d.id],
      ['kind', d.kind],
      ['pool', d.pool ?? undefined],
      ['status', d.status],
      ['parent', d.parent?.name],
      ['snapshot', d.snapshot?.name],
      ['customization spec', d.customizationSpec],
      ['clones', describeNames(d)],
      ['requester', d.requester],
      ['ticket', d.ticket ?? undefined],
      ['progress', `${p.done ?? 0}/${p.total ?? 0} done, ${p.failed ?? 0} failed${underWay(byStatus) ? `; ${underWay(byStatus)}` : ''}`],
      ['steps', stepsOf(d.kind).map((step) => `${step} ${passed(step, byStatus)}/${p.total ?? 0}`).join(', ')],
      ['created', d.createdAt],
      ['finished', d.finishedAt ?? undefined],
      ['duration (s)', d.durationSeconds ?? undefined],
      ['error', d.error ? `${d.error.code}: ${d.error.message}` : undefined],
    ]),
  )
  for (const w of d.warnings ?? []) ctx.out(`warning ${w.code}: ${w.message}`)
  const clones = d.clones ?? []
  if (clones.length) {
    ctx.out(table(['clone', 'status', 'host', 'moref', 'error'], clones.map((c) => [c.name, c.status, c.host, c.moref, c.error ? `${c.error.code}: ${c.error.message}` : ''])))
  }
}

function printPlan(ctx: Context, plan: Plan): void {
  if (ctx.json) return ctx.printJson(plan)
  ctx.out(`plan (nothing changed): ${plan.clones?.length ?? 0} clones of "${plan.parent?.name}" from "${plan.snapshot?.name}", spec ${plan.customizationSpec}`)
  ctx.out(table(['check', 'passed', 'detail'], (plan.checks ?? []).map((c) => [c.check, c.passed ? 'yes' : 'no', c.detail])))
  ctx.out(table(['clone', 'host'], (plan.clones ?? []).map((c) => [c.name, c.host])))
  for (const w of plan.warnings ?? []) ctx.out(`warning ${w.code}: ${w.message}`)
  if (plan.estimate?.seconds !== undefined) ctx.out(`estimated duration: ${plan.estimate.seconds} s`)
}
