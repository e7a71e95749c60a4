/**
 * Following deployments until they end: on a terminal, live cli-progress bars on stderr (one for the
 * whole deployment, one per step of its clones); otherwise a line on stderr each time one changes.
 * stdout is left to the answer (a table, or JSON with --json).
 */
import cliProgress from 'cli-progress'
import type { Deployment } from '../client/index.js'
import type { Context } from './context.js'

type Counts = Record<string, number>

/** The statuses a clone has when it is past each step (a failed clone is past none). */
const PAST = {
  'destroy old': ['pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready'],
  clone: ['customizing', 'powering_on', 'setting_attributes', 'ready'],
  customize: ['powering_on', 'setting_attributes', 'ready'],
  'power on': ['setting_attributes', 'ready'],
  attributes: ['ready'],
  destroy: ['destroyed'],
} as const
type Step = keyof typeof PAST

/** The steps each clone of a deployment of this kind goes through. */
export function stepsOf(kind: string | undefined): Step[] {
  if (kind === 'strip' || kind === 'scale-down') return ['destroy']
  const build: Step[] = ['clone', 'customize', 'power on', 'attributes']
  return kind === 'refresh' || kind === 'recompose' ? ['destroy old', ...build] : build
}

export const passed = (step: Step, byStatus: Counts) => PAST[step].reduce((n, status) => n + (byStatus[status] ?? 0), 0)

/** "cloning 2, customizing 1": the clones under way, by status. */
export function underWay(byStatus: Counts): string {
  const active = ['waiting', 'destroying', 'pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes']
  return active.filter((s) => byStatus[s]).map((s) => `${s.replace('_', ' ')} ${byStatus[s]}`).join(', ')
}

export const isFinal = (d: Deployment) => d.status === 'succeeded' || d.status === 'failed'

function note(d: Deployment): string {
  const p = d.progress ?? {}
  const parts: string[] = [d.status ?? '']
  if (p.failed) parts.push(`${p.failed} failed`)
  const left = (p as { estimatedSecondsLeft?: number | null }).estimatedSecondsLeft
  if (!isFinal(d) && typeof left === 'number') parts.push(`~${Math.ceil(left)} s left`)
  return parts.join(', ')
}

/**
 * Polls the deployments until every one has succeeded or failed, drawing their progress; answers their
 * final representations, in order. A deadline past `timeoutMs` throws WAIT_TIMEOUT.
 */
export async function followDeployments(ctx: Context, ids: string[], timeoutMs: number, labels: string[] = []): Promise<Deployment[]> {
  const labelOf = (i: number) => labels[i] ?? (ids.length > 1 ? `${ids[i]!.slice(0, 8)}` : 'deployment')
  const width = Math.max(12, ...ids.map((_, i) => labelOf(i).length + 12))
  const multibar = ctx.live
    ? new cliProgress.MultiBar(
        {
          format: '{label} |{bar}| {value}/{total} {note}',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined
  const bars = new Map<string, { whole: cliProgress.SingleBar; steps: [Step, cliProgress.SingleBar][] }>()
  const lastLine = new Map<string, string>()

  const draw = (i: number, d: Deployment) => {
    const id = ids[i]!
    const p = d.progress ?? {}
    const total = p.total ?? d.count ?? 0
    const byStatus = (p.byStatus ?? {}) as Counts
    if (multibar) {
      let set = bars.get(id)
      if (!set) {
        const label = `${labelOf(i)} (${d.kind ?? 'deploy'})`
        set = {
          whole: multibar.create(total, 0, { label: label.padEnd(width), note: '' }),
          steps: stepsOf(d.kind).map((step) => [step, multibar.create(total, 0, { label: `  ${step}`.padEnd(width), note: '' })]),
        }
        bars.set(id, set)
      }
      set.whole.setTotal(total)
      set.whole.update(p.done ?? 0, { note: note(d) })
      for (const [step, bar] of set.steps) {
        bar.setTotal(total)
        bar.update(passed(step, byStatus))
      }
    } else {
      const line = `${labelOf(i)}: ${note(d)} ${p.done ?? 0}/${total}${underWay(byStatus) ? ` (${underWay(byStatus)})` : ''}`
      if (lastLine.get(id) !== line) process.stderr.write(line + '\n')
      lastLine.set(id, line)
    }
  }

  try {
    return await Promise.all(ids.map((id, i) => ctx.client.waitForDeployment(id, { onProgress: (d) => draw(i, d), timeoutMs, intervalMs: 500 })))
  } finally {
    multibar?.stop()
  }
}
