/**
 * The service as a real process (`tsx src/server.ts`, or the compiled `server.js` of a build), so
 * that tests can SIGKILL it and start it again on the same database.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../src/db/embedded.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))


export interface ServiceProcess {
  url: string
  pid: number
  /** The log lines (JSON) the process wrote. */
  output: string[]
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

export interface ServiceProcessOptions {
  /** A compiled server.js to run with plain node (the production image's way); default: src/server.ts through tsx. */
  compiledEntry?: string
}

export async function startServiceProcess(env: Record<string, string>, options: ServiceProcessOptions = {}): Promise<ServiceProcess> {
  const port = await freePort()
  // node itself with tsx's loader, not the tsx wrapper: a signal must reach the server, not a parent of it.
  const args = options.compiledEntry ? [options.compiledEntry] : ['--import', 'tsx', 'src/server.ts']
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean))
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  process.once('exit', () => child.kill('SIGKILL'))

  const url = `http://127.0.0.1:${port}`
  // Embedded mode runs initdb first: on a shared 2-core machine under load that alone can take a minute.
  const deadline = Date.now() + 150_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}) while starting:\n${output.join('\n')}`)
    try {
      if ((await fetch(`${url}/health/live`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`service did not start:\n${output.join('\n')}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    pid: child.pid!,
    output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
