/** `clones ls|show`: the clones' records, provenance and custom attributes. */
import type { Command } from 'commander'
import { collect, contextOf, integer, record, table } from './context.js'

export function registerCloneCommands(program: Command): void {
  const clones = program.command('clones').description("clones and where they came from")

  clones
    .command('ls')
    .description('clones, optionally by name prefix or attribute value (every page)')
    .option('-p, --prefix <prefix>', 'names starting with this')
    .option('-a, --attribute <name:value>', 'an attribute with exactly this value (repeat: all must match)', collect)
    .option('--limit <n>', 'at most this many', integer('--limit', 1))
    .action(async (options, command: Command) => {
      const ctx = contextOf(command)
      const list = await ctx.client.clones(
        { ...(options.prefix ? { prefix: options.prefix } : {}), ...(options.attribute ? { attribute: options.attribute } : {}) },
        options.limit,
      )
      if (ctx.json) return ctx.printJson(list)
      ctx.out(
        table(
          ['clone', 'status', 'parent', 'snapshot', 'host', 'moref', 'ticket', 'requester'],
          list.map((c) => [c.name, c.status, c.parent?.name, c.snapshot?.name, c.host, c.moref, c.ticket, c.requester]),
        ),
      )
    })

  clones
    .command('show')
    .description("a clone's record: provenance and custom attributes")
    .argument('<name>')
    .action(async (name: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const clone = await ctx.client.clone(name)
      if (ctx.json) return ctx.printJson(clone)
      const provenance = clone.provenance
      ctx.out(
        record([
          ['clone', clone.name],
          ['status', clone.status],
          ['moref', clone.moref],
          ['instance UUID', clone.instanceUuid],
          ['host', clone.host],
          ['parent', clone.parent?.name],
          ['snapshot', clone.snapshot?.name],
          ['deployment', clone.deploymentId],
          ['requester', clone.requester],
          ['ticket', clone.ticket ?? undefined],
          ['created', clone.createdAt],
          ['ready', clone.readyAt ?? undefined],
          ['replaces', provenance?.replaces ? `${provenance.replaces.vm?.moref ?? ''} (snapshot ${provenance.replaces.snapshot?.name})` : undefined],
          ['replaced by', provenance?.replacedBy ? `${provenance.replacedBy.vm?.moref ?? ''} (snapshot ${provenance.replacedBy.snapshot?.name})` : undefined],
          ['error', clone.error ? `${clone.error.code}: ${clone.error.message}` : undefined],
        ]),
      )
      const attributes = clone.attributes ?? []
      if (attributes.length) ctx.out(table(['attribute', 'value'], attributes.map((a) => [a.name, a.value])))
    })
}
