/** `pools ls|show|create|resize|strip|refresh|recompose`: named pools of linked clones. */
import type { Command } from 'commander'
import type { CreatePoolBody } from '../client/index.js'
import { collect, contextOf, EXIT, integer, record, table, UsageError, type Context } from './context.js'
import { DEFAULT_WAIT_SECONDS, printDeployment } from './deployments.js'
import { followDeployments } from './progress.js'

type PoolChange = { pool?: { name?: string; size?: number; status?: string }; deploymentId?: string | null; deploymentIds?: string[] }

export function registerPoolCommands(program: Command): void {
  const pools = program.command('pools').description('pools of linked clones: a named desired state (parent, prefix, size)')

  pools
    .command('ls')
    .description('every pool')
    .option('--limit <n>', 'at most this many', integer('--limit', 1))
    .action(async (options, command: Command) => {
      const ctx = contextOf(command)
      const list = await ctx.client.pools(options.limit)
      if (ctx.json) return ctx.printJson(list)
      ctx.out(
        table(
          ['pool', 'status', 'parent', 'snapshot', 'prefix', 'from', 'size', 'expires'],
          list.map((p) => [p.name, p.status, p.parent, p.snapshot?.name, p.prefix, p.startNumber, p.size, p.expiresAt]),
        ),
      )
    })

  pools
    .command('show')
    .description('a pool: its clones, last deployments and drift')
    .argument('<name>')
    .action(async (name: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const pool = await ctx.client.pool(name)
      if (ctx.json) return ctx.printJson(pool)
      ctx.out(
        record([
          ['pool', pool.name],
          ['status', pool.status],
          ['parent', pool.parent],
          ['snapshot', pool.snapshot?.name],
          ['prefix', pool.prefix],
          ['start number', pool.startNumber],
          ['size', pool.size],
          ['host limit', pool.hostLimit ?? undefined],
          ['expires', pool.expiresAt ?? undefined],
          ['requester', pool.requester],
          ['created', pool.createdAt],
          ['drift', pool.drift ? `${pool.drift.status} (${pool.drift.findings?.length ?? 0} findings, checked ${pool.drift.checkedAt})` : 'not checked yet'],
        ]),
      )
      const findings = pool.drift?.findings ?? []
      if (findings.length) ctx.out(table(['finding', 'clone', 'expected', 'actual'], findings.map((f) => [f.kind, f.clone, f.expected, f.actual])))
      ctx.out(table(['clone', 'status', 'moref'], (pool.clones ?? []).map((c) => [c.name, c.status, c.moref])))
      const deployments = pool.deployments ?? []
      if (deployments.length) {
        ctx.out(table(['deployment', 'kind', 'status', 'clones', 'created'], deployments.map((d) => [d.id, d.kind, d.status, d.count, d.createdAt])))
      }
    })

  waitable(
    pools
      .command('create')
      .description('create a pool and deploy its clones')
      .argument('<name>')
      .requiredOption('--parent <parent>', 'the parent VM')
      .requiredOption('--size <n>', 'how many clones', integer('--size', 1, 500))
      .option('--prefix <prefix>', "the clones' name prefix (default: the parent name's second word)")
      .option('--start-number <n>', 'the first number (default: the lowest from which every name is free)', integer('--start-number', 0, 999_999))
      .option('-a, --attribute <name>', 'a custom attribute to copy from the parent (repeat)', collect)
      .option('--host-limit <n>', 'at most this many hosts for the clones', integer('--host-limit', 1, 64))
      .option('--expires-at <time>', 'strip the pool back then (ISO 8601, in the future)'),
  ).action(async (name: string, options, command: Command) => {
    const ctx = contextOf(command)
    const body: CreatePoolBody = {
      name,
      parent: options.parent,
      size: options.size,
      ...(options.startNumber !== undefined ? { startNumber: options.startNumber } : {}),
      ...(options.prefix ? { prefix: options.prefix } : {}),
      ...(options.attribute ? { attributes: options.attribute } : {}),
      ...(options.hostLimit ? { hostLimit: options.hostLimit } : {}),
      ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
    }
    await finish(ctx, await ctx.client.createPool(body), options)
  })

  waitable(
    pools
      .command('resize')
      .description('scale a pool up (the lowest free numbers) or down (the highest first)')
      .argument('<name>')
      .option('--size <n>', 'the new size', integer('--size', 0, 500))
      .option('--expires-at <time>', 'a new expiry (ISO 8601, in the future)'),
  ).action(async (name: string, options, command: Command) => {
    const ctx = contextOf(command)
    if (options.size === undefined && !options.expiresAt) {
      throw new UsageError('INVALID_ARGUMENT', 'pools resize needs --size or --expires-at')
    }
    const body = { ...(options.size !== undefined ? { size: options.size } : {}), ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}) }
    await finish(ctx, await ctx.client.changePool(name, body), options)
  })

  waitable(
    pools.command('strip').description("strip a pool back: destroy every live clone (records kept)").argument('<name>'),
  ).action(async (name: string, options, command: Command) => {
    const ctx = contextOf(command)
    await finish(ctx, await ctx.client.stripPool(name), options)
  })

  waitable(
    pools
      .command('refresh')
      .description("rebuild a pool's clones from its snapshot, in rolling batches")
      .argument('<name>')
      .option('--max-unavailable <n>', 'clones down at once (default a quarter)', integer('--max-unavailable', 1, 500))
      .option('--clone <name>', 'only this clone (repeat)', collect),
  ).action(async (name: string, options, command: Command) => {
    const ctx = contextOf(command)
    const body = { ...(options.maxUnavailable ? { maxUnavailable: options.maxUnavailable } : {}), ...(options.clone ? { clones: options.clone } : {}) }
    await finish(ctx, await ctx.client.refreshPool(name, body), options)
  })

  waitable(
    pools
      .command('recompose')
      .description("move a pool onto another snapshot (default the parent's current one) or parent, rebuilding its clones")
      .argument('<name>')
      .option('--snapshot <snapshot>', 'a snapshot of the parent, by name or moref')
      .option('--parent <parent>', 'another parent VM')
      .option('--max-unavailable <n>', 'clones down at once (default a quarter)', integer('--max-unavailable', 1, 500)),
  ).action(async (name: string, options, command: Command) => {
    const ctx = contextOf(command)
    const body = {
      ...(options.snapshot ? { snapshot: options.snapshot } : {}),
      ...(options.parent ? { parent: options.parent } : {}),
      ...(options.maxUnavailable ? { maxUnavailable: options.maxUnavailable } : {}),
    }
    await finish(ctx, await ctx.client.recomposePool(name, body), options)
  })
}

/** --wait and --timeout on a pool change. */
function waitable(command: Command): Command {
  return command
    .option('-w, --wait', 'follow the deployments until they end (exit 4 when one failed)')
    .option('--timeout <seconds>', 'how long --wait waits', integer('--timeout', 1, 86_400), DEFAULT_WAIT_SECONDS)
}

/** Prints a pool change, or, with --wait, follows its deployments and prints them. */
async function finish(ctx: Context, change: PoolChange, options: { wait?: boolean; timeout: number }): Promise<void> {
  const ids = change.deploymentIds ?? []
  if (!options.wait || ids.length === 0) {
    if (ctx.json) return ctx.printJson(change)
    ctx.out(`pool ${change.pool?.name}: ${change.pool?.status}, size ${change.pool?.size}`)
    ctx.out(ids.length ? `deployments: ${ids.join(', ')} (follow with: linked-clones status ID --watch)` : 'nothing to deploy')
    return
  }
  if (!ctx.json) ctx.out(`pool ${change.pool?.name}: following ${ids.length} deployment${ids.length === 1 ? '' : 's'}`)
  const final = await followDeployments(ctx, ids, options.timeout * 1000)
  if (ctx.json) ctx.printJson({ ...change, deployments: final })
  else for (const d of final) printDeployment(ctx, d)
  if (final.some((d) => d.status !== 'succeeded')) process.exitCode = EXIT.failed
}
