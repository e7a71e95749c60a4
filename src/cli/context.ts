/**
 * What every command shares: the client made from --url/--token (or LINKED_CLONES_URL/LINKED_CLONES_TOKEN),
 * --json, the exit codes, and the way answers are printed (cli-table3 tables, or JSON on stdout).
 */
import type { Command } from 'commander'
import Table from 'cli-table3'
import { createLinkedClonesClient, LinkedClonesError, type LinkedClonesClient } from '../client/index.js'

/** Exit codes: distinct for a wrong command line, a refusal of the service, no service, a failed deployment. */
export const EXIT = {
  ok: 0,
  /** The service refused the request or failed (its code and message are printed). */
  api: 1,
  /** The command line is wrong: unknown command or option, a bad value, no token. */
  usage: 2,
  /** The service could not be reached, or did not answer in time. */
  unreachable: 3,
  /** A deployment or preparation waited for (--wait, --watch) ended `failed`, or was not over by --timeout. */
  failed: 4,
} as const

export const DEFAULT_URL = 'http://localhost:3000'

/** A mistake on the command line found by the command itself (exit 2), printed as `code: message`. */
export class UsageError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface GlobalOptions {
  url?: string
  token?: string
  json?: boolean
}

export interface Context {
  client: LinkedClonesClient
  json: boolean
  /** Whether stderr is a terminal (live progress bars) or a log (a line per change). */
  live: boolean
  out(line?: string): void
  /** Prints `value` as JSON on stdout. */
  printJson(value: unknown): void
}

/** The context of a command, from its options and the program's (--url, --token, --json). */
export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<GlobalOptions>()
  const url = options.url ?? process.env.LINKED_CLONES_URL ?? DEFAULT_URL
  const token = options.token ?? process.env.LINKED_CLONES_TOKEN
  if (!token) {
    throw new UsageError(
      'MISSING_TOKEN',
      'no token: set LINKED_CLONES_TOKEN or pass --token (a JWT with the scopes the command needs, e.g. `npm run token -- --sub me --scope "deployments:read deployments:write"`)',
    )
  }
  try {
    new URL(url)
  } catch {
    throw new UsageError('INVALID_URL', `not a URL: ${url} (LINKED_CLONES_URL or --url, e.g. ${DEFAULT_URL})`)
  }
  return {
    client: createLinkedClonesClient({ baseUrl: url, token }),
    json: Boolean(options.json),
    live: Boolean(process.stderr.isTTY),
    out: (line = '') => void process.stdout.write(line + '\n'),
    printJson: (value) => void process.stdout.write(JSON.stringify(value, null, 2) + '\n'),
  }
}

/** No line between two rows: compact tables. */
const NO_ROW_LINES = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }

/** A table on stdout; colors only on a terminal. */
export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const color = Boolean(process.stdout.isTTY)
  const t = new Table({ head, chars: NO_ROW_LINES, style: color ? { head: ['cyan'] } : { head: [], border: [] } })
  for (const row of rows) t.push(row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))
  return t.toString()
}

/** Key-value rows (one record) as a two-column table. */
export function record(rows: [string, unknown][]): string {
  const color = Boolean(process.stdout.isTTY)
  const t = new Table({ chars: NO_ROW_LINES, style: color ? { head: ['cyan'] } : { head: [], border: [] } })
  for (const [key, value] of rows) {
    if (value === undefined) continue
    t.push({ [key]: value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value) })
  }
  return t.toString()
}

/** An option's value as a whole number within bounds (a usage error otherwise). */
export function integer(name: string, min = 0, max = 1_000_000) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError('INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}, not "${value}"`)
    }
    return n
  }
}

/** Repeatable option values gathered into a list. */
export const collect = (value: string, previous: string[] = []) => [...previous, value]

/** Where an error ends: its `code: message` line(s) on stderr, and the exit code. */
export function describeError(err: unknown): { lines: string[]; exitCode: number } {
  if (err instanceof UsageError) return { lines: [`${err.code}: ${err.message}`], exitCode: EXIT.usage }
  if (err instanceof LinkedClonesError) {
    const lines = [`${err.code}: ${err.message}`]
    if (err.details && Object.keys(err.details).length) lines.push(`details: ${JSON.stringify(err.details)}`)
    if (err.code === 'WAIT_TIMEOUT') return { lines, exitCode: EXIT.failed }
    return { lines, exitCode: err.status === 0 ? EXIT.unreachable : EXIT.api }
  }
  return { lines: [`INTERNAL_ERROR: ${err instanceof Error ? err.message : String(err)}`], exitCode: EXIT.api }
}
