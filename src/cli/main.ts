/**
 * The `linked-clones` command: the service's REST API for scripts and people, on the typed client
 * (src/client). Run from the checkout as `npx linked-clones ...` (bin/linked-clones.mjs runs this file
 * with tsx). The URL and token come from LINKED_CLONES_URL and LINKED_CLONES_TOKEN, or --url/--token.
 * Errors print `CODE: message` on stderr; exit codes: see EXIT in context.ts.
 */
import { Command, CommanderError } from 'commander'
import { registerCloneCommands } from './clones.js'
import { DEFAULT_URL, describeError, EXIT } from './context.js'
import { registerDeploymentCommands } from './deployments.js'
import { registerParentCommands } from './parents.js'
import { registerPoolCommands } from './pools.js'
import { registerReportCommands } from './reports.js'
import { registerWebhookCommands } from './webhooks.js'

export function buildProgram(): Command {
  const program = new Command('linked-clones')
    .description('Deploy and manage VMware vSphere linked clones through the linked-clone service')
    .option('--url <url>', `the service (default: LINKED_CLONES_URL, else ${DEFAULT_URL})`)
    .option('--token <jwt>', 'a bearer token (default: LINKED_CLONES_TOKEN)')
    .option('--json', 'print the answer as JSON on stdout')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: ${EXIT.ok} done, ${EXIT.api} refused by the service (CODE: message on stderr), ${EXIT.usage} wrong command line or no token,
${EXIT.unreachable} service unreachable, ${EXIT.failed} a deployment or preparation waited for failed or outlasted --timeout.

Examples:
  export LINKED_CLONES_URL=http://localhost:3000 LINKED_CLONES_TOKEN=$(npm run -s token -- --sub me --scope "deployments:read deployments:write")
  linked-clones deploy "Tmpl Capture 1.0" --count 5 --ticket RITM0012345 --wait
  linked-clones pools create wave1 --parent "Tmpl Capture 1.0" --size 25 --wait
  linked-clones clones ls --prefix Capture --json`,
    )
  // Every command (and subcommand) answers usage errors by throwing, so main() picks the exit code.
  const exitOverride = (command: Command) => {
    command.exitOverride()
    for (const sub of command.commands) exitOverride(sub)
  }
  registerDeploymentCommands(program)
  registerPoolCommands(program)
  registerCloneCommands(program)
  registerParentCommands(program)
  registerReportCommands(program)
  registerWebhookCommands(program)
  exitOverride(program)
  return program
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage
      return
    }
    const { lines, exitCode } = describeError(err)
    for (const line of lines) process.stderr.write(line + '\n')
    process.exitCode = exitCode
  }
}

await main()
