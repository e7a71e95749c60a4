/**
 * The `linked-clones` command run as a child process (bin/linked-clones.mjs, as `npx linked-clones`
 * runs it), against a test service listening on a loopback port.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the command with these arguments and environment (nothing of LINKED_CLONES_* inherited). */
export function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 300_000): Promise<CliResult> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LINKED_CLONES_')))
  const child = spawn(process.execPath, ['bin/linked-clones.mjs', ...args], {
    cwd: ROOT,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  // A command that never ends is a failure of its own, not a hang of the test run.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
