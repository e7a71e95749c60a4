// The page for people: sign in with a pasted token, then the pools, their deployments' progress
// (followed every 1.5 s while running), a deployment's clones, the space report, and the changes.
import { ApiError, api, apiText, enc, graphql, session } from './api.js'
import { confirmFirst } from './confirm.js'
import { cloneTable, deploymentList, describe, isRunning } from './deployments.js'
import { replace, when } from './dom.js'
import { poolsTable } from './pools.js'
import { chart, spaceView } from './space.js'

const POOLS_EVERY_MS = 5000
const PROGRESS_EVERY_MS = 1500
/** Finished deployments shown under the running ones. */
const FINISHED_SHOWN = 6
/** The live region tells a running deployment's progress at most this often (its status changes at once). */
const ANNOUNCE_EVERY_MS = 10_000

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))
const tokenField = () => /** @type {HTMLTextAreaElement} */ ($('token'))

/**
 * @typedef {import('./pools.js').Pool} Pool
 * @typedef {import('./deployments.js').Deployment} Deployment
 */
const state = {
  /** @type {Pool[]} */
  pools: [],
  /** Full deployments by id, as last fetched. @type {Map<string, Deployment>} */
  deployments: new Map(),
  /**
   * Deployments followed besides the pools' last ones: those started from this page, and every one
   * found queued or running (of a pool or not). @type {Set<string>}
   */
  started: new Set(),
  /** @type {string | null} */
  selected: null,
  /** Bumped on sign-out: loops of an earlier session stop. */
  session: 0,
  /** @type {Map<string, { done: number, status: string, at: number }>} */
  announced: new Map(),
  /** Where the problem shown came from: a poll's is cleared by the next poll that works. */
  problemFrom: /** @type {'poll' | 'action' | null} */ (null),
}

// ---- messages

/** @param {string} text */
function notice(text) {
  $('notice').textContent = text
}

/** @param {unknown} err @param {'poll' | 'action'} from */
function problem(err, from) {
  const text = err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err)
  $('problem').textContent = text
  $('problem').hidden = false
  state.problemFrom = from
}

function clearProblem(/** @type {'poll' | 'action'} */ from) {
  if (from === 'poll' && state.problemFrom !== 'poll') return
  $('problem').hidden = true
  $('problem').textContent = ''
  state.problemFrom = null
}

/** @param {string} text */
function announce(text) {
  $('progress-live').textContent = text
}

// ---- signing in and out

async function signIn(/** @type {string} */ token) {
  const error = $('sign-in-error')
  error.textContent = ''
  if (!token) {
    error.textContent = 'Paste a token first.'
    return
  }
  try {
    await api('GET', '/v1/pools', undefined, token)
  } catch (err) {
    error.textContent =
      err instanceof ApiError && err.status === 401
        ? `The service refused this token: ${err.message}`
        : err instanceof ApiError && err.status === 403
          ? 'This token may not read pools: it needs the deployments:read scope.'
          : `Cannot sign in: ${err instanceof Error ? err.message : String(err)}`
    $('token').focus()
    return
  }
  session.start(token)
  tokenField().value = ''
  start()
  $('pools-title').setAttribute('tabindex', '-1')
  $('pools-title').focus()
}

/** @param {string} [message] */
function signOut(message) {
  session.end()
  state.session += 1
  state.pools = []
  state.deployments.clear()
  state.started.clear()
  state.announced.clear()
  state.selected = null
  for (const id of ['pools-body', 'deployments-body', 'deployment-body', 'space-body']) replace($(id))
  $('deployment').hidden = true
  $('signed-in').hidden = true
  $('sign-out').hidden = true
  $('who').textContent = ''
  $('sign-in').hidden = false
  clearProblem('action')
  notice(message ?? 'Signed out.')
  $('token').focus()
}

function start() {
  const claims = session.claims()
  $('who').textContent = claims ? `Signed in as ${claims.sub} (${claims.scopes.join(', ') || 'no scopes'})` : 'Signed in'
  if (claims?.exp) notice(`Signed in. The token is valid until ${when(new Date(claims.exp * 1000).toISOString())}.`)
  $('sign-in').hidden = true
  $('signed-in').hidden = false
  $('sign-out').hidden = false
  const current = ++state.session
  loop(current, POOLS_EVERY_MS, loadPools)
  loop(current, PROGRESS_EVERY_MS, followDeployments)
  void loadSpace()
}

/** Runs `task` now and then every `ms` after it ends, until the session changes. */
function loop(/** @type {number} */ current, /** @type {number} */ ms, /** @type {() => Promise<void>} */ task) {
  const run = async () => {
    if (current !== state.session) return
    try {
      await task()
      clearProblem('poll')
    } catch (err) {
      if (current === state.session) problem(err, 'poll')
    }
    if (current === state.session) setTimeout(run, ms)
  }
  void run()
}

// ---- pools

async function loadPools() {
  const current = state.session
  const { pools } = /** @type {{ pools: Pool[] }} */ (await api('GET', '/v1/pools'))
  const detailed = await Promise.all(
    pools.map(async (pool) => {
      if (pool.status !== 'active') return pool
      try {
        return /** @type {Pool} */ (await api('GET', `/v1/pools/${enc(pool.name)}`))
      } catch (err) {
        // Stripped or renamed between the two calls: shown as listed.
        if (err instanceof ApiError && err.status === 404) return pool
        throw err
      }
    }),
  )
  if (current !== state.session) return
  detailed.sort((a, b) => Number(b.status === 'active') - Number(a.status === 'active') || a.name.localeCompare(b.name))
  state.pools = detailed
  drawPools()
  $('pools-updated').textContent = `Updated ${new Date().toLocaleTimeString()}.`
}

function drawPools() {
  replace($('pools-body'), poolsTable(state.pools, { resize, refresh, strip }, session.may('deployments:write')))
}

/** @param {Pool} pool */
async function resize(pool) {
  const answer = await confirmFirst({
    title: `Resize ${pool.name}`,
    text: `${pool.name} has ${pool.size} clones. Growing deploys clones under the next free numbers; shrinking destroys the clones above the new size in vCenter.`,
    confirm: 'Resize',
    field: { label: 'New size (clones)', value: pool.size, min: 0, max: 2000 },
  })
  if (!answer) return
  await change(`Resizing ${pool.name} to ${answer.value}`, () => api('PATCH', `/v1/pools/${enc(pool.name)}`, { size: answer.value }))
}

/** @param {Pool} pool */
async function refresh(pool) {
  const live = pool.clones?.length ?? 0
  const answer = await confirmFirst({
    title: `Refresh ${pool.name}`,
    text: `Each of the ${live} live clones of ${pool.name} is destroyed and made again from the snapshot under the same name, a quarter of them at a time. Anything done inside them is lost.`,
    confirm: 'Refresh',
  })
  if (!answer) return
  await change(`Refreshing ${pool.name}`, () => api('POST', `/v1/pools/${enc(pool.name)}/refresh`, {}))
}

/** @param {Pool} pool */
async function strip(pool) {
  const live = pool.clones?.length ?? 0
  const answer = await confirmFirst({
    title: `Strip back ${pool.name}`,
    text: `All ${live} clones of ${pool.name} are destroyed in vCenter. Their records are kept. This cannot be undone.`,
    confirm: 'Strip back',
    danger: true,
  })
  if (!answer) return
  await change(`Stripping back ${pool.name}`, () => api('DELETE', `/v1/pools/${enc(pool.name)}`))
}

/** Makes a change, follows the deployment it starts, and reloads the pools. */
async function change(/** @type {string} */ what, /** @type {() => Promise<{ deploymentIds?: string[] }>} */ call) {
  try {
    const result = await call()
    clearProblem('action')
    const ids = result?.deploymentIds ?? []
    for (const id of ids) state.started.add(id)
    notice(ids.length ? `${what}: started.` : `${what}: nothing to do.`)
    await Promise.all([loadPools(), followDeployments()])
  } catch (err) {
    problem(err, 'action')
  }
}

// ---- deployments

/** The deployments to show: every one running, then the newest finished ones. */
function shownIds() {
  /** @type {Map<string, { id: string, status: string, createdAt: string }>} */
  const summaries = new Map()
  for (const pool of state.pools) for (const d of pool.deployments ?? []) summaries.set(d.id, d)
  for (const id of state.started) if (!summaries.has(id)) summaries.set(id, state.deployments.get(id) ?? { id, status: 'queued', createdAt: new Date().toISOString() })
  const all = [...summaries.values()].map((s) => state.deployments.get(s.id) ?? s)
  all.sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  const running = all.filter(isRunning)
  const finished = all.filter((d) => !isRunning(d)).slice(0, FINISHED_SHOWN)
  return [...running, ...finished].map((d) => d.id)
}

/** Every deployment queued or running, whoever started it: found at each tick, before the pools are read again. */
const RUNNING_QUERY = `query RunningDeployments {
  running: deployments(filter: { status: RUNNING }, limit: 100) { nodes { id } }
  queued: deployments(filter: { status: QUEUED }, limit: 100) { nodes { id } }
}`

async function followDeployments() {
  const current = state.session
  const found = /** @type {{ running: { nodes: { id: string }[] }, queued: { nodes: { id: string }[] } }} */ (await graphql(RUNNING_QUERY))
  if (current !== state.session) return
  for (const { id } of [...found.running.nodes, ...found.queued.nodes]) state.started.add(id)
  const ids = shownIds()
  // Fetched again while running; a finished one does not change.
  const due = ids.filter((id) => {
    const known = state.deployments.get(id)
    return !known || isRunning(known)
  })
  if (state.selected && !due.includes(state.selected) && isRunning(state.deployments.get(state.selected) ?? { status: 'queued' })) due.push(state.selected)
  const fetched = await Promise.all(due.map((id) => /** @type {Promise<Deployment>} */ (api('GET', `/v1/deployments/${enc(id)}`))))
  if (current !== state.session) return
  let finished = false
  for (const d of fetched) {
    const before = state.deployments.get(d.id)
    if (before && isRunning(before) && !isRunning(d)) finished = true
    state.deployments.set(d.id, d)
    tell(d)
  }
  drawDeployments(ids)
  if (finished) {
    // Sizes, live clones and space changed with it.
    await loadPools()
    void loadSpace()
  }
}

/** Puts a deployment's news in the live region: a status change at once, progress now and then. @param {Deployment} d */
function tell(d) {
  const last = state.announced.get(d.id)
  const now = Date.now()
  const news = { done: d.progress.done, status: d.status, at: now }
  if (!last) {
    state.announced.set(d.id, news)
    if (isRunning(d)) announce(`${describe(d)} is ${d.status}: ${d.progress.done} of ${d.progress.total} clones done.`)
    return
  }
  if (last.status !== d.status) {
    state.announced.set(d.id, news)
    announce(`${describe(d)} ${d.status}: ${d.progress.done} of ${d.progress.total} clones done${d.progress.failed ? `, ${d.progress.failed} failed` : ''}.`)
  } else if (last.done !== d.progress.done && now - last.at >= ANNOUNCE_EVERY_MS) {
    state.announced.set(d.id, news)
    announce(`${describe(d)}: ${d.progress.done} of ${d.progress.total} clones done.`)
  }
}

function drawDeployments(/** @type {string[]} */ ids) {
  const shown = ids.map((id) => state.deployments.get(id)).filter((d) => d !== undefined)
  replace($('deployments-body'), deploymentList(shown, showClones))
  const selected = state.selected ? state.deployments.get(state.selected) : undefined
  if (selected) replace($('deployment-body'), cloneTable(selected))
}

/** @param {Deployment} d */
function showClones(d) {
  state.selected = d.id
  $('deployment-title').textContent = `Clones of ${describe(d)}`
  replace($('deployment-body'), cloneTable(d))
  $('deployment').hidden = false
  $('deployment-title').focus()
}

function closeClones() {
  const id = state.selected
  state.selected = null
  $('deployment').hidden = true
  replace($('deployment-body'))
  const back = id ? document.querySelector(`[data-key="clones:${CSS.escape(id)}"]`) : null
  if (back instanceof HTMLElement) back.focus()
}

// ---- space

let measuring = false
async function loadSpace() {
  if (measuring) return
  measuring = true
  const current = state.session
  const button = /** @type {HTMLButtonElement} */ ($('measure-space'))
  button.disabled = true
  $('space-body').setAttribute('aria-busy', 'true')
  try {
    const [report, svg] = await Promise.all([api('GET', '/v1/reports/space'), apiText('/v1/reports/space.svg')])
    if (current === state.session) replace($('space-body'), spaceView(report, chart(svg)))
  } catch (err) {
    if (current === state.session) problem(err, 'action')
  } finally {
    measuring = false
    button.disabled = false
    $('space-body').removeAttribute('aria-busy')
  }
}

// ---- wiring

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault()
  void signIn(tokenField().value.trim())
})
$('sign-out').addEventListener('click', () => signOut())
$('reload-pools').addEventListener('click', () => void loadPools().then(() => clearProblem('poll'), (err) => problem(err, 'action')))
$('measure-space').addEventListener('click', () => void loadSpace())
$('close-deployment').addEventListener('click', closeClones)
window.addEventListener('token-refused', () => {
  if (session.token) signOut('The service refused the token (expired, or signed with another key): sign in again.')
})

if (session.token) start()
else $('sign-in').hidden = false
