// Deployments with their progress per step, and one deployment's clones.
import { duration, h, time } from './dom.js'

/** Each clone's steps in order, as the service records them (src/domain/progress.ts). */
const STEPS = ['waiting', 'pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready', 'destroying', 'destroyed', 'failed']
/** The steps shown for each kind even while no clone is at them. */
const STEPS_OF_KIND = {
  deploy: ['pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready', 'failed'],
  reconcile: ['pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready', 'failed'],
  refresh: ['waiting', 'pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready', 'failed'],
  recompose: ['waiting', 'pending', 'cloning', 'customizing', 'powering_on', 'setting_attributes', 'ready', 'failed'],
  'scale-down': ['destroying', 'destroyed', 'failed'],
  strip: ['destroying', 'destroyed', 'failed'],
}

/**
 * @typedef {{ id: string, kind: string, pool: string | null, status: string, count: number, createdAt: string,
 *   startedAt: string | null, finishedAt: string | null, durationSeconds: number | null, parent: { name: string },
 *   error: { code: string, message: string } | null,
 *   progress: { total: number, done: number, failed: number, byStatus: Record<string, number>, estimatedSecondsLeft: number },
 *   clones: Clone[] }} Deployment
 * @typedef {{ name: string, status: string, step?: string, moref: string | null, host: string | null, reportedHost: string | null,
 *   error: { code: string, message: string } | null, replaces?: { name: string, status: string },
 *   guest?: { hostName: string | null, ipAddresses: string[] } | null }} Clone
 */

export const isRunning = (/** @type {{ status: string }} */ d) => d.status === 'queued' || d.status === 'running'

/** @param {string} step */
export const stepLabel = (step) => step.replace(/_/g, ' ')

/** A deployment in a sentence, for headings and the live region. @param {Deployment} d */
export function describe(d) {
  return `${d.kind} of ${d.pool ?? d.parent.name}`
}

/**
 * @param {Deployment[]} deployments newest first
 * @param {(d: Deployment) => void} showClones
 */
export function deploymentList(deployments, showClones) {
  if (deployments.length === 0) return h('p', {}, 'No deployments yet.')
  return h('ol', { class: 'deployments' }, deployments.map((d) => h('li', {}, deploymentCard(d, showClones))))
}

/** @param {Deployment} d @param {(d: Deployment) => void} showClones */
function deploymentCard(d, showClones) {
  const { progress } = d
  const titleId = `deployment-${d.id}`
  // While it runs, every step of its kind (the empty ones too); once it is over, where its clones ended.
  const ofKind = isRunning(d) ? (STEPS_OF_KIND[/** @type {keyof STEPS_OF_KIND} */ (d.kind)] ?? STEPS) : []
  const steps = STEPS.filter((s) => ofKind.includes(s) || (progress.byStatus[s] ?? 0) > 0)
  return h(
    'article',
    { class: `deployment ${d.status}`, 'aria-labelledby': titleId, 'data-deployment': d.id },
    h(
      'h3',
      { id: titleId },
      describe(d),
      ' ',
      h('span', { class: `badge ${d.status}`, 'data-field': 'status' }, d.status),
    ),
    h(
      'p',
      { class: 'overall' },
      h('label', { for: `${titleId}-overall` }, `${progress.done} of ${progress.total} clones done`, progress.failed ? `, ${progress.failed} failed` : ''),
      h('progress', { id: `${titleId}-overall`, max: Math.max(progress.total, 1), value: progress.done, 'data-field': 'done' }),
    ),
    h(
      'ul',
      { class: 'steps', 'aria-label': `Clones at each step of ${describe(d)}` },
      steps.map((step) => {
        const count = progress.byStatus[step] ?? 0
        const id = `${titleId}-${step}`
        return h(
          'li',
          { class: count > 0 ? 'step active' : 'step', 'data-step': step },
          h('label', { for: id }, h('span', { class: 'step-name' }, stepLabel(step)), h('span', { class: 'num', 'data-field': 'count' }, String(count))),
          h('progress', { id, max: Math.max(progress.total, 1), value: count }),
        )
      }),
    ),
    h(
      'p',
      { class: 'hint' },
      `started `,
      time(d.startedAt ?? d.createdAt),
      d.finishedAt ? [', finished ', time(d.finishedAt), ` (${duration(d.durationSeconds ?? NaN)})`] : isRunning(d) ? `, about ${duration(progress.estimatedSecondsLeft)} left` : '',
    ),
    d.error ? h('p', { class: 'problem' }, `${d.error.code}: ${d.error.message}`) : null,
    h('button', { type: 'button', 'data-key': `clones:${d.id}`, onclick: () => showClones(d), 'aria-label': `Show the clones of ${describe(d)}` }, 'Show clones'),
  )
}

/** One deployment's clones. @param {Deployment} d */
export function cloneTable(d) {
  if (d.clones.length === 0) return h('p', {}, 'This deployment has no clones.')
  return h(
    'table',
    { class: 'clones' },
    // A deployment answers its first 100 clones (of up to 2,000): say so when there are more.
    h('caption', {}, `${d.progress.total} clones of ${describe(d)}, ${d.status}${d.clones.length < d.progress.total ? ` (the first ${d.clones.length} shown)` : ''}`),
    h('thead', {}, h('tr', {}, ['Clone', 'Status', 'Host', 'Host vCenter reports', 'Guest name', 'IP addresses', 'Problem'].map((label) => h('th', { scope: 'col' }, label)))),
    h(
      'tbody',
      {},
      d.clones.map((c) =>
        h(
          'tr',
          { 'data-clone': c.name },
          h('th', { scope: 'row' }, c.name, c.replaces ? h('span', { class: 'hint' }, ` (replaces ${c.replaces.status} ${c.replaces.name})`) : null),
          h('td', {}, h('span', { class: `badge ${c.status}` }, stepLabel(c.status)), c.step && c.step !== c.status ? h('span', { class: 'hint' }, ` ${stepLabel(c.step)}`) : null),
          h('td', {}, c.host ?? '—'),
          h(
            'td',
            {},
            c.reportedHost ?? '—',
            // vCenter has it elsewhere than the service placed it (DRS, a manual move): worth knowing.
            c.host && c.reportedHost && c.host !== c.reportedHost ? h('span', { class: 'hint' }, ' (moved)') : null,
          ),
          // Known once the guest's customization ran (what people connect to).
          h('td', {}, c.guest?.hostName ?? '—'),
          h('td', {}, c.guest?.ipAddresses?.length ? c.guest.ipAddresses.join(', ') : '—'),
          h('td', {}, c.error ? `${c.error.code}: ${c.error.message}` : ''),
        ),
      ),
    ),
  )
}
