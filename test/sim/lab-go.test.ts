// Runs the lab's own Go tests (sim/lab/*_test.go: the seed's storage figures the space report relies
// on, and the lab's behaviours) and reports each Go test as a tap assertion, so a failing Go test
// fails `npm test` and CI counts it.
import { spawn } from 'node:child_process'
import t from 'tap'
import { ensureSimulatorBuilt, goEnvironment, simulatorRepoRoot } from '../../sim/launcher.js'

interface GoTestEvent {
  Action: string
  Test?: string
  Output?: string
  Elapsed?: number
}

t.test('the lab passes its own Go tests', async (t) => {
  // Installs go and govmomi's sources when missing (as root), the same way the lab's build does.
  await ensureSimulatorBuilt()
  const child = spawn('go', ['test', '-json', '-count=1', './sim/lab'], { cwd: simulatorRepoRoot, env: goEnvironment() })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const deadline = setTimeout(() => child.kill('SIGKILL'), 300_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(deadline)

  const events = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as GoTestEvent)
  const outputOf = (test: string) =>
    events
      .filter((e) => e.Test === test && e.Action === 'output')
      .map((e) => e.Output)
      .join('')
  const results = events.filter((e) => e.Test !== undefined && (e.Action === 'pass' || e.Action === 'fail'))
  t.ok(results.length > 0, `go test ran some tests (${stderr.slice(0, 2000)})`)
  for (const result of results) {
    t.equal(result.Action, 'pass', `Go ${result.Test}`, { output: result.Action === 'fail' ? outputOf(result.Test!) : undefined })
  }
  t.equal(code, 0, 'go test exits 0')
})
