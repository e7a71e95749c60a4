/** `report space`: the space of the service's parents and clones, measured in vCenter. */
import { writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { contextOf, table } from './context.js'

export function registerReportCommands(program: Command): void {
  const report = program.command('report').description('reports')

  report
    .command('space')
    .description('space as full, thin and linked clones, per parent (GB = 2^30 bytes)')
    .option('--svg <file>', 'also write the chart (SVG) to this file')
    .action(async (options, command: Command) => {
      const ctx = contextOf(command)
      const [space, svg] = await Promise.all([ctx.client.spaceReport(), options.svg ? ctx.client.spaceChart() : undefined])
      if (svg !== undefined) await writeFile(options.svg, svg)
      if (ctx.json) return ctx.printJson(options.svg ? { ...space, svgFile: options.svg } : space)
      const row = (name: string, g: { count?: number; traditionalGB?: number; thinGB?: number; linkedGB?: number }) => [
        name,
        g.count,
        g.traditionalGB,
        g.thinGB,
        g.linkedGB,
      ]
      ctx.out(`measured at ${space.measuredAt}`)
      ctx.out(
        table(['parent', 'clones', 'traditional GB', 'thin GB', 'linked GB'], [...(space.parents ?? []).map((p) => row(p.name ?? '', p)), row('total', space.total ?? {})]),
      )
      const savings = space.total?.savings
      if (savings && space.total?.count) {
        ctx.out(
          `linked clones save ${savings.versusTraditional?.gb} GB (${savings.versusTraditional?.percent}%) against full clones and ${savings.versusThin?.gb} GB (${savings.versusThin?.percent}%) against thin ones`,
        )
      }
      if (space.missingClones) ctx.out(`${space.missingClones} clones recorded as live are missing in vCenter`)
      if (options.svg) ctx.out(`chart written to ${options.svg}`)
    })
}
