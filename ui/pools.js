// The pools table: size, live clones, expiry, drift, and the three changes (each confirmed first).
import { h, time, when } from './dom.js'

/**
 * @typedef {{ name: string, status: string, parent: string, prefix: string, size: number, expiresAt: string | null,
 *   snapshot: { name: string } | null, drift?: Drift | null, clones?: { name: string, status: string }[],
 *   deployments?: DeploymentSummary[] }} Pool
 * @typedef {{ status: 'none' | 'found', checkedAt: string, checked: number, hosts: number, hostLimit: number,
 *   findings: { kind: string, clone?: string, expected?: unknown, actual?: unknown }[] }} Drift
 * @typedef {{ id: string, kind: string, status: string, count: number, createdAt: string, finishedAt: string | null }} DeploymentSummary
 * @typedef {{ resize(pool: Pool): void, refresh(pool: Pool): void, strip(pool: Pool): void }} PoolActions
 */

/**
 * @param {Pool[]} pools active ones with their detail, then stripped ones
 * @param {PoolActions} actions
 * @param {boolean} mayWrite the token holds deployments:write
 */
export function poolsTable(pools, actions, mayWrite) {
  if (pools.length === 0) return h('p', {}, 'No pools yet. Create one with POST /v1/pools.')
  return h(
    'table',
    { class: 'pools' },
    h('caption', { class: 'visually-hidden' }, 'Pools, their size, live clones, expiry and drift'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Pool', 'Parent and snapshot', 'Size', 'Live clones', 'Expires', 'Drift', mayWrite ? 'Change' : null]
          .filter(Boolean)
          .map((label) => h('th', { scope: 'col', class: label === 'Size' || label === 'Live clones' ? 'num' : null }, label)),
      ),
    ),
    h('tbody', {}, pools.map((pool) => poolRow(pool, actions, mayWrite))),
  )
}

/** @param {Pool} pool @param {PoolActions} actions @param {boolean} mayWrite */
function poolRow(pool, actions, mayWrite) {
  const active = pool.status === 'active'
  const busy = (pool.deployments ?? []).some((d) => d.status === 'queued' || d.status === 'running')
  const live = pool.clones ?? []
  const ready = live.filter((c) => c.status === 'ready').length
  return h(
    'tr',
    { 'data-pool': pool.name, class: active ? '' : 'stripped' },
    h('th', { scope: 'row' }, h('span', { class: 'pool-name' }, pool.name), active ? null : h('span', { class: 'badge' }, 'stripped')),
    h('td', {}, pool.parent, h('br'), h('span', { class: 'hint' }, pool.snapshot ? `snapshot ${pool.snapshot.name}` : 'current snapshot')),
    h('td', { class: 'num', 'data-field': 'size' }, active ? String(pool.size) : '—'),
    h(
      'td',
      { class: 'num', 'data-field': 'live' },
      active ? String(live.length) : '—',
      active && ready !== live.length ? h('span', { class: 'hint' }, ` (${ready} ready)`) : null,
      busy ? h('span', { class: 'badge running' }, 'changing') : null,
    ),
    h('td', {}, active ? (pool.expiresAt ? [time(pool.expiresAt), soon(pool.expiresAt)] : 'never') : '—'),
    h('td', {}, active ? driftCell(pool) : '—'),
    mayWrite
      ? h(
          'td',
          { class: 'actions' },
          button(`resize:${pool.name}`, 'Resize…', `Resize pool ${pool.name}`, !active, () => actions.resize(pool)),
          button(`refresh:${pool.name}`, 'Refresh…', `Refresh pool ${pool.name}`, !active || live.length === 0, () => actions.refresh(pool)),
          button(`strip:${pool.name}`, 'Strip back…', `Strip back pool ${pool.name}`, !active, () => actions.strip(pool), 'danger'),
        )
      : null,
  )
}

/** @param {string} key @param {string} text @param {string} label @param {boolean} disabled @param {() => void} onclick @param {string} [cls] */
function button(key, text, label, disabled, onclick, cls) {
  return h('button', { type: 'button', 'data-key': key, 'aria-label': label, disabled, onclick, class: cls }, text)
}

/** Within a day of being stripped back on its own: said, so that someone can renew it in time. @param {string} iso */
function soon(iso) {
  const hours = (new Date(iso).getTime() - Date.now()) / 3_600_000
  if (!(hours < 24)) return null
  return h('span', { class: 'badge warn' }, hours <= 0 ? 'due now' : hours < 1 ? `in ${Math.max(1, Math.round(hours * 60))} min` : `in ${Math.round(hours)} h`)
}

/** @param {Pool} pool */
function driftCell(pool) {
  const drift = pool.drift
  if (!drift) return h('span', { class: 'hint' }, 'not checked yet')
  if (drift.status === 'none') {
    return h('span', {}, h('span', { class: 'badge ok' }, 'none'), ' ', h('span', { class: 'hint' }, `checked ${when(drift.checkedAt)}`))
  }
  return h(
    'details',
    {},
    h('summary', {}, h('span', { class: 'badge warn' }, `${drift.findings.length} ${drift.findings.length === 1 ? 'finding' : 'findings'}`)),
    h(
      'ul',
      { class: 'findings' },
      drift.findings.map((f) =>
        h('li', {}, `${f.kind.replace(/_/g, ' ')}`, f.clone ? ` ${f.clone}` : '', f.expected !== undefined || f.actual !== undefined ? `: expected ${show(f.expected)}, found ${show(f.actual)}` : ''),
      ),
    ),
    h('p', { class: 'hint' }, `checked ${when(drift.checkedAt)}`),
  )
}

/** @param {unknown} value */
const show = (value) => (value === undefined || value === null ? '—' : String(value))
