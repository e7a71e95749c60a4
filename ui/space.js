// The space report: the service's chart (SVG, drawn by the service) and its figures as a table.
import { gb, h, time } from './dom.js'

/**
 * @typedef {{ traditionalGB: number, thinGB: number, linkedGB: number, count: number,
 *   savings: { versusTraditional: { gb: number, percent: number }, versusThin: { gb: number, percent: number } } }} Figures
 * @typedef {{ measuredAt: string, parents: (Figures & { name: string })[], total: Figures, missingClones: number }} SpaceReport
 */

/**
 * The chart as SVG elements of this page. It is parsed as XML and adopted, not loaded by URL, since
 * the chart's route wants the token; nothing in it can run (the page's CSP allows no inline script).
 * @param {string} svgText
 */
export function chart(svgText) {
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml')
  const svg = doc.documentElement
  if (svg.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length > 0) {
    return h('p', { class: 'problem' }, 'The chart could not be read.')
  }
  for (const script of Array.from(svg.getElementsByTagName('script'))) script.remove()
  svg.removeAttribute('width')
  svg.removeAttribute('height')
  svg.setAttribute('class', 'chart')
  return document.importNode(svg, true)
}

/** @param {SpaceReport} report @param {Node} chartNode */
export function spaceView(report, chartNode) {
  const rows = [...report.parents.map((p) => ({ label: p.name, f: p, total: false })), { label: 'All parents', f: report.total, total: true }]
  return [
    h('figure', { class: 'chart-box' }, chartNode, h('figcaption', { class: 'hint' }, 'Measured ', time(report.measuredAt), '.')),
    report.missingClones > 0 ? h('p', { class: 'problem' }, `${report.missingClones} recorded clones were not found in vCenter.`) : null,
    h(
      'table',
      { class: 'space' },
      h('caption', {}, 'Space per parent, in GB'),
      h(
        'thead',
        {},
        h('tr', {}, ['Parent', 'Clones', 'As full clones', 'As thin clones', 'As linked clones', 'Saved against full'].map((l, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null }, l))),
      ),
      h(
        'tbody',
        {},
        rows.map(({ label, f, total }) =>
          h(
            'tr',
            { class: total ? 'total' : '' },
            h('th', { scope: 'row' }, label),
            h('td', { class: 'num' }, String(f.count)),
            h('td', { class: 'num' }, gb(f.traditionalGB)),
            h('td', { class: 'num' }, gb(f.thinGB)),
            h('td', { class: 'num' }, gb(f.linkedGB)),
            h('td', { class: 'num' }, `${gb(f.savings.versusTraditional.gb)} (${f.savings.versusTraditional.percent.toFixed(1)} %)`),
          ),
        ),
      ),
    ),
  ]
}
