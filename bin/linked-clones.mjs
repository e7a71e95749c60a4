#!/usr/bin/env node
// The `linked-clones` command (package.json `bin`): its source is TypeScript, src/cli/main.ts, run
// in this process through tsx's loader (so signals and exit codes are the command's own).
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
