// Small DOM helpers: every text goes in as text (never as HTML), so nothing the API answers can run.

/**
 * An element with attributes (`on<event>` functions become listeners; false/null are left out)
 * and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value))
    else if (key === 'class') el.className = String(value)
    else if (value === true) el.setAttribute(key, '')
    else el.setAttribute(key, String(value))
  }
  append(el, children)
  return el
}

/** @param {Element} el @param {unknown[]} children */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
}

/**
 * Replaces a container's content, keeping the keyboard focus on the element with the same
 * `data-key` if there was one (the lists are redrawn every few seconds while someone tabs through them).
 * @param {Element} container
 * @param {...unknown} children
 */
export function replace(container, ...children) {
  const active = document.activeElement
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.key : undefined
  container.replaceChildren()
  append(container, children)
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`)
    if (again instanceof HTMLElement) again.focus()
  }
}

/** A date-time as the reader's local time, or a dash. @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return '—'
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/** A time element for an ISO date-time. @param {string | null | undefined} iso */
export function time(iso) {
  return iso ? h('time', { datetime: iso }, when(iso)) : '—'
}

/** @param {number} seconds */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—'
  if (seconds < 60) return `${Math.round(seconds)} s`
  const minutes = Math.floor(seconds / 60)
  return `${minutes} min ${Math.round(seconds % 60)} s`
}

/** @param {number} gb */
export function gb(gb) {
  return `${gb.toLocaleString(undefined, { maximumFractionDigits: gb < 100 ? 2 : 1 })} GB`
}
