/**
 * The seed's graph, server-side: for each parent, three bars (deployed traditionally, as thin full
 * copies, as linked clones), in GB. Plain SVG for a portal to embed with <img> or inline: no script,
 * no external resource, readable by a screen reader (role="img", <title> and a <desc> stating every
 * figure) and without colour (each bar carries its value as text, and the legend its order).
 *
 * Bars are drawn to one linear scale from 0, so their heights are proportional to the figures.
 * Every bar has data-parent, data-figure and data-value attributes for tests and tools. Pure.
 */
import type { GroupSpace, SpaceTotal } from '../../domain/space.js'

export const FIGURES = [
  { key: 'traditionalGB', figure: 'traditional', label: 'Traditional (full clones)', colour: '#0072B2' },
  { key: 'thinGB', figure: 'thin', label: 'Thin provisioned', colour: '#E69F00' },
  { key: 'linkedGB', figure: 'linked', label: 'Linked clones', colour: '#009E73' },
] as const

export interface ChartInput {
  groups: readonly Pick<GroupSpace, 'name' | 'count' | 'traditionalGB' | 'thinGB' | 'linkedGB'>[]
  total?: Pick<SpaceTotal, 'count' | 'traditionalGB' | 'thinGB' | 'linkedGB' | 'savings'>
  /** Shown under the title, e.g. "measured 2026-01-13 16:18 UTC". */
  note?: string
}

export const CHART_HEIGHT = 460
const HEIGHT = CHART_HEIGHT
const MARGIN = { top: 124, right: 24, bottom: 64, left: 72 }
const BAR = 40
const BAR_GAP = 6
const GROUP_GAP = 48
export const CHART_MIN_WIDTH = 720
const MIN_WIDTH = CHART_MIN_WIDTH
const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'

export function renderSpaceChart(input: ChartInput): string {
  const groupWidth = FIGURES.length * BAR + (FIGURES.length - 1) * BAR_GAP
  const plotWidth = Math.max(MIN_WIDTH - MARGIN.left - MARGIN.right, input.groups.length * (groupWidth + GROUP_GAP))
  const width = MARGIN.left + plotWidth + MARGIN.right
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom
  const baseline = MARGIN.top + plotHeight
  const max = Math.max(0, ...input.groups.flatMap((g) => FIGURES.map((f) => g[f.key])))
  const { top, step } = scale(max)
  const y = (value: number) => baseline - (value / top) * plotHeight

  const title = 'Disk space of linked clones, per parent'
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" font-family="${FONT}">`,
    `<title id="chart-title">${esc(title)}</title>`,
    `<desc id="chart-desc">${esc(describe(input))}</desc>`,
    `<rect width="${width}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="30" font-size="18" font-weight="600" fill="#1a1a1a">${esc(title)}</text>`,
  )
  const saving = input.total ? `${input.total.savings.versusTraditional.percent}% less than traditional` : ''
  const lines = [summary(input), [saving, input.note].filter(Boolean).join(' · ')].filter(Boolean)
  lines.forEach((line, i) => out.push(`<text x="${MARGIN.left}" y="${54 + i * 18}" font-size="13" fill="#444444">${esc(line)}</text>`))

  // Legend, in the bars' order.
  let lx = MARGIN.left
  for (const f of FIGURES) {
    out.push(
      `<rect x="${lx}" y="92" width="12" height="12" fill="${f.colour}"/>`,
      `<text x="${lx + 18}" y="103" font-size="12" fill="#1a1a1a">${esc(f.label)}</text>`,
    )
    lx += 18 + f.label.length * 7 + 24
  }

  // Grid and y axis: 0, step, 2 step ... top, in GB.
  out.push(`<g font-size="11" fill="#444444" text-anchor="end">`)
  for (let i = 0; i * step <= top + step / 2; i++) {
    const v = i * step
    const gy = fmt(y(v))
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${gy}" y2="${gy}" stroke="${v === 0 ? '#1a1a1a' : '#dddddd'}" stroke-width="1"/>`,
      `<text x="${MARGIN.left - 8}" y="${fmt(y(v) + 4)}">${esc(formatGB(v))} GB</text>`,
    )
  }
  out.push(`</g>`)

  if (input.groups.length === 0) {
    out.push(
      `<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight / 2}" font-size="14" fill="#444444" text-anchor="middle">No clones measured yet</text>`,
    )
  }

  input.groups.forEach((group, i) => {
    // Each parent in its own band of the plot, centred.
    const band = plotWidth / input.groups.length
    const gx = MARGIN.left + i * band + (band - groupWidth) / 2
    out.push(`<g>`)
    FIGURES.forEach((f, j) => {
      const value = group[f.key]
      const x = gx + j * (BAR + BAR_GAP)
      const height = baseline - y(value)
      out.push(
        `<rect class="bar" data-parent="${esc(group.name)}" data-figure="${f.figure}" data-value="${value}" x="${fmt(x)}" y="${fmt(baseline - height)}" width="${BAR}" height="${fmt(height)}" fill="${f.colour}">` +
          `<title>${esc(`${group.name}, ${f.label.toLowerCase()}: ${formatGB(value)} GB`)}</title></rect>`,
        `<text x="${fmt(x + BAR / 2)}" y="${fmt(baseline - height - 5)}" font-size="11" fill="#1a1a1a" text-anchor="middle">${esc(formatGB(value))}</text>`,
      )
    })
    const cx = fmt(gx + groupWidth / 2)
    out.push(
      `<text x="${cx}" y="${baseline + 20}" font-size="13" fill="#1a1a1a" text-anchor="middle">${esc(group.name)}</text>`,
      `<text x="${cx}" y="${baseline + 38}" font-size="11" fill="#444444" text-anchor="middle">${group.count} ${group.count === 1 ? 'clone' : 'clones'}</text>`,
      `</g>`,
    )
  })
  out.push(`</svg>`)
  return out.join('\n') + '\n'
}

/** A round top for the scale and a round step between grid lines (1, 2, 2.5 or 5 x 10^n). */
export function scale(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 }
  const rough = max / 5
  const magnitude = 10 ** Math.floor(Math.log10(rough))
  const tidy = (n: number) => Number(n.toPrecision(12)) // 0.15000000000000002 -> 0.15
  const step = tidy(([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= rough) ?? 10) * magnitude)
  return { top: tidy(Math.ceil(max / step - 1e-9) * step), step }
}

function describe(input: ChartInput): string {
  const groups = input.groups.map(
    (g) =>
      `${g.name} (${g.count} ${g.count === 1 ? 'clone' : 'clones'}): traditional ${formatGB(g.traditionalGB)} GB, thin ${formatGB(g.thinGB)} GB, linked ${formatGB(g.linkedGB)} GB.`,
  )
  if (groups.length === 0) groups.push('No clones measured yet.')
  const total = summary(input)
  const saving = input.total ? ` (${input.total.savings.versusTraditional.percent}% less than traditional)` : ''
  return [...groups, total ? `${total}${saving}.` : ''].filter(Boolean).join(' ')
}

function summary({ total }: ChartInput): string {
  if (!total) return ''
  return `Total for ${total.count} clones: ${formatGB(total.traditionalGB)} GB traditional, ${formatGB(total.thinGB)} GB thin, ${formatGB(total.linkedGB)} GB linked`
}

export function formatGB(value: number): string {
  return String(Math.round(value * 100) / 100)
}

const fmt = (n: number) => String(Math.round(n * 100) / 100)

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}
