/** `parents ls|snapshots|prepare`: the VMs clones are made from, and their snapshots. */
import type { Command } from 'commander'
import { contextOf, EXIT, integer, record, table } from './context.js'
import { DEFAULT_WAIT_SECONDS } from './deployments.js'

export function registerParentCommands(program: Command): void {
  const parents = program.command('parents').description('parent VMs and their snapshots')

  parents
    .command('ls')
    .description('the VMs that can serve as parents, with their readiness')
    .action(async (_options, command: Command) => {
      const ctx = contextOf(command)
      const list = await ctx.client.parents()
      if (ctx.json) return ctx.printJson(list)
      ctx.out(
        table(
          ['parent', 'moref', 'snapshot', 'customization spec', 'ready', 'problems'],
          list.map((p) => [
            p.name,
            p.moref,
            p.snapshot?.name,
            p.customizationSpec ? `${p.customizationSpec}${p.customizationSpecExists ? '' : ' (missing)'}` : '',
            p.ready ? 'yes' : 'no',
            p.problems.map((x) => x.code).join(', '),
          ]),
        ),
      )
    })

  parents
    .command('snapshots')
    .description("a parent's snapshot tree, with the live clones made from each")
    .argument('<parent>')
    .action(async (name: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const answer = await ctx.client.snapshots(name)
      if (ctx.json) return ctx.printJson(answer)
      ctx.out(`${answer.parent?.name} (${answer.parent?.moref}, ${answer.parent?.powerState})`)
      ctx.out(
        table(
          ['snapshot', 'moref', 'current', 'created', 'live clones', 'pools'],
          (answer.snapshots ?? []).map((s) => [
            `${'  '.repeat(s.depth ?? 0)}${s.name}`,
            s.moref,
            s.current ? 'yes' : '',
            s.createdAt,
            s.liveClones,
            (s.pools ?? []).join(', '),
          ]),
        ),
      )
    })

  parents
    .command('prepare')
    .description('power the parent off and take a new snapshot (optionally recomposing its pools onto it)')
    .argument('<parent>')
    .option('--snapshot-name <name>', 'default "<parent> YYYY-MM-DD"')
    .option('--description <text>', "the snapshot's description")
    .option('--recompose', "recompose the parent's active pools onto the new snapshot")
    .option('-w, --wait', 'follow the preparation until it ends (exit 4 when it failed)')
    .option('--timeout <seconds>', 'how long --wait waits', integer('--timeout', 1, 86_400), DEFAULT_WAIT_SECONDS)
    .action(async (name: string, options, command: Command) => {
      const ctx = contextOf(command)
      let preparation = await ctx.client.prepareParent(name, {
        ...(options.snapshotName ? { snapshotName: options.snapshotName } : {}),
        ...(options.description ? { description: options.description } : {}),
        ...(options.recompose ? { recompose: true } : {}),
      })
      if (options.wait) {
        let last = ''
        preparation = await ctx.client.waitForPreparation(name, preparation.id!, {
          timeoutMs: options.timeout * 1000,
          intervalMs: 500,
          onProgress: (p) => {
            const line = `preparation ${p.id}: ${p.status}${(p.steps ?? []).map((s) => `, ${s.step} ${s.outcome}`).join('')}`
            if (line !== last && !ctx.json) process.stderr.write(line + '\n')
            last = line
          },
        })
        if (preparation.status !== 'succeeded') process.exitCode = EXIT.failed
      }
      if (ctx.json) return ctx.printJson(preparation)
      ctx.out(
        record([
          ['preparation', preparation.id],
          ['parent', preparation.parent?.name],
          ['status', preparation.status],
          ['snapshot', preparation.snapshot?.name],
          ['snapshot moref', preparation.snapshot?.moref ?? undefined],
          ['steps', (preparation.steps ?? []).map((s) => `${s.step} ${s.outcome}`).join(', ')],
          ['deployments', (preparation.deploymentIds ?? []).join(', ') || undefined],
          ['error', preparation.error ? `${preparation.error.code}: ${preparation.error.message}` : undefined],
        ]),
      )
    })
}
