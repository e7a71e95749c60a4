// Counts the tests tap ran, from the raw TAP it keeps per test file in .tap/test-results (written
// whatever reporter prints to the terminal). A test is a leaf point: an `ok`/`not ok` line that
// closes no subtest. A subtest's own line comes right after its indented body, so it is recognized
// by the deeper indentation of the line before it. A file whose TAP has no final plan (it crashed or
// was killed) counts as one failure. Prints `passed failed` for .ci/run.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = process.argv[2] ?? '.tap/test-results'

function* tapFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* tapFiles(path)
    else if (entry.name.endsWith('.tap')) yield path
  }
}

const indentOf = (line) => line.length - line.trimStart().length
let passed = 0
let failed = 0
for (const file of tapFiles(root)) {
  const lines = readFileSync(file, 'utf8').split('\n')
  let previousIndent = -1
  let finalPlan = false
  let inDiagnostics = false
  for (const line of lines) {
    // A point's YAML diagnostics (`---` ... `...`) are indented deeper than the next point: skipped.
    if (inDiagnostics) {
      if (line.trim() === '...') inDiagnostics = false
      continue
    }
    if (line.trim() === '---') {
      inDiagnostics = true
      continue
    }
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    const indent = indentOf(line)
    const point = /^\s*(not )?ok\b/.exec(line)
    if (point && !(previousIndent > indent)) {
      // `# TODO` points do not count as failures, as in TAP; `# SKIP` ones are neither.
      if (/#\s*skip\b/i.test(line)) {
        // not run
      } else if (point[1] && !/#\s*todo\b/i.test(line)) failed += 1
      else passed += 1
    }
    if (indent === 0 && /^1\.\.\d+/.test(line)) finalPlan = true
    previousIndent = indent
  }
  if (!finalPlan) failed += 1
}
console.log(`${passed} ${failed}`)
