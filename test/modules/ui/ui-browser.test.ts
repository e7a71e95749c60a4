/**
 * The page for people in a real browser: Debian's Chromium, headless, driven by playwright-core,
 * against the service listening on loopback with the simulator lab and a real PostgreSQL. It signs
 * in with a pasted token, lists pools made through the API, watches a deployment's progress move,
 * shows its clones, cancels then confirms a resize (the pool's size changes in the API), shows the
 * space chart, and signs out. Screenshots go to .tap/screenshots/ui/ for the next engineer to look at.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createSigner } from 'fast-jwt'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import t from 'tap'
import { startTestService, waitForDeployment } from '../../helpers/service.js'
import { listen } from '../../helpers/graphql.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = path.resolve('.tap/screenshots/ui')

// A browser test without a browser is a failure that says what to install, not a skip.
if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) to run the browser test of /ui`)
}

// The browser first: if it cannot start, nothing else was started to be left behind.
const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'ui-chromium-'))
t.teardown(() => rm(userDataDir, { recursive: true, force: true }))
await mkdir(SCREENSHOTS, { recursive: true })
const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1366, height: 900 },
  timeout: 120_000,
})
t.teardown(() => context.close())

// Two vCenter operations at once and a slow clone: a pool of 8 fills in waves the page can be seen following.
const service = await startTestService({
  simulator: { delays: { CloneVM_Task: 1500, CustomizeVM_Task: 200, PowerOnVM_Task: 200 } },
  env: { LIMIT_VCENTER_OPERATIONS: '2' },
})
t.teardown(() => service.stop())
const base = (await listen(service.app)).replace(/^ws/, 'http').replace(/\/graphql$/, '')
// Every token is of one team, 'room': a caller sees only its teams' pools.
const writer = service.auth('deployments:read deployments:write', 'portal-user', ['room'])

async function api(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) {
  const res = await service.app.inject({ method, url, headers: writer, payload })
  return { status: res.statusCode, body: res.json() }
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

t.test('the page, signed in with a pasted token, follows the pools and changes one', async (t) => {
  // A pool made and finished through the API before the page opens.
  const inTwoHours = new Date(Date.now() + 2 * 3_600_000 + 60_000).toISOString()
  const alpha = await api('POST', '/v1/pools', { name: 'room-alpha', parent: 'Tmpl Capture 1.0', prefix: 'Alpha', startNumber: 1, size: 3, expiresAt: inTwoHours })
  t.equal(alpha.status, 202)
  t.equal((await waitForDeployment(service, alpha.body.deploymentId, 300_000)).status, 'succeeded')

  const page = await context.newPage()
  page.setDefaultTimeout(60_000)
  // Anything the CSP refuses, any script error, any failed load: each is a fault of the page.
  const faults: string[] = []
  page.on('console', (msg) => {
    if (msg.type() === 'error') faults.push(`console: ${msg.text()}`)
  })
  page.on('pageerror', (err) => faults.push(`page error: ${err.message}`))
  page.on('requestfailed', (req) => faults.push(`request failed: ${req.url()} ${req.failure()?.errorText}`))

  await t.test('it loads at /ui and asks for a token', async (t) => {
    const res = await page.goto(`${base}/ui`)
    t.equal(res?.status(), 200)
    t.equal(new URL(page.url()).pathname, '/ui/')
    t.equal(await page.title(), 'Linked clones')
    await page.getByLabel('Access token').waitFor()
    t.equal(await page.locator('#signed-in').isVisible(), false, 'nothing of the pools before signing in')
    await shot(page, '1-sign-in')
  })

  await t.test('a refused token is said so, and nothing is kept', async (t) => {
    await page.getByLabel('Access token').fill('not.a-token.at-all')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('#sign-in-error', { hasText: 'refused this token' }).waitFor()
    t.equal(await page.evaluate(() => sessionStorage.length), 0)
    // The page's own 401 from the API is an expected console line; it is not a fault.
    faults.splice(0)
  })

  await t.test('signed in, it lists the pools made through the API', async (t) => {
    await page.getByLabel('Access token').fill(service.token('deployments:read deployments:write', 'room-lead', { groups: ['room'] }))
    await page.getByRole('button', { name: 'Sign in' }).click()
    const row = page.locator('tr[data-pool="room-alpha"]')
    await row.waitFor()
    t.equal(await row.locator('[data-field="size"]').innerText(), '3')
    t.equal(await row.locator('[data-field="live"]').innerText(), '3')
    t.match(await row.locator('td').nth(3).innerText(), /in 2 h/, 'an expiry within a day is said')
    t.match(await page.locator('#who').innerText(), /room-lead/)
    t.ok(await page.evaluate(() => sessionStorage.getItem('linked-clones.token')), 'the token is kept in this tab')
    // The focus moved to the pools' heading, so keyboard users start there.
    t.equal(await page.evaluate(() => document.activeElement?.id), 'pools-title')
  })

  let betaId = ''
  await t.test("a running deployment's progress moves on the page", async (t) => {
    const beta = await api('POST', '/v1/pools', { name: 'room-beta', parent: 'Tmpl Packaging 1.0', prefix: 'Beta', startNumber: 1, size: 8 })
    t.equal(beta.status, 202)
    betaId = beta.body.deploymentId
    const card = page.locator(`[data-deployment="${betaId}"]`)
    // What following it costs: the page's API calls while it runs (reported, not asserted).
    const calls: string[] = []
    const count = (req: { url(): string }) => void calls.push(new URL(req.url()).pathname)
    page.on('request', count)
    const since = Date.now()
    await card.waitFor()
    // What the page shows, read every 100 ms until the deployment is over: it must have shown it part done.
    const seen: string[] = []
    let shotTaken = false
    for (;;) {
      const state = await card.evaluate((el) => {
        const done = el.querySelector('progress[data-field="done"]')?.getAttribute('value')
        const steps = [...el.querySelectorAll('[data-step]')].map((s) => `${s.getAttribute('data-step')}=${s.querySelector('[data-field="count"]')?.textContent}`)
        return { status: el.querySelector('[data-field="status"]')?.textContent ?? '', text: `${done} ${steps.join(' ')}` }
      })
      if (seen.at(-1) !== state.text) seen.push(state.text)
      if (!shotTaken && state.status === 'running' && !state.text.startsWith('0 ')) {
        await shot(page, '2-progress')
        shotTaken = true
      }
      if (state.status === 'succeeded' || state.status === 'failed') {
        t.equal(state.status, 'succeeded')
        break
      }
      await page.waitForTimeout(100)
    }
    page.off('request', count)
    const seconds = (Date.now() - since) / 1000
    const by = (prefix: string) => calls.filter((c) => c.startsWith(prefix)).length
    t.comment(
      `while it ran (${seconds.toFixed(1)} s): ${calls.length} API calls, ${(calls.length / seconds).toFixed(1)}/s ` +
        `(graphql ${by('/graphql')}, deployment ${by('/v1/deployments/')}, pools ${by('/v1/pools')}, space ${by('/v1/reports')})`,
    )
    t.ok(seen.length >= 3, `the progress was seen changing: ${seen.join(' | ')}`)
    t.ok(seen.some((s) => /^[1-7] /.test(s)), `part done at some point: ${seen.join(' | ')}`)
    t.match(seen.at(-1), /^8 .*ready=8/)
    t.match(await page.locator('#progress-live').innerText(), /room-beta/, 'the live region told it')
    // The pool's row follows: 8 live clones.
    await page.locator('tr[data-pool="room-beta"] [data-field="live"]', { hasText: /^8$/ }).waitFor()
  })

  await t.test("a deployment's clones, with status, host, guest name and addresses", async (t) => {
    await page.locator(`[data-deployment="${betaId}"]`).getByRole('button', { name: /Show the clones/ }).click()
    const rows = page.locator('#deployment-body tbody tr')
    await rows.first().waitFor()
    t.equal(await rows.count(), 8)
    const first = await rows.first().locator('th, td').allInnerTexts()
    t.match(first[0], /^Beta0*1$/)
    t.match(first[1], /ready/)
    t.match(first[2], /\S/, 'a host')
    t.notMatch(first[2], /^—$/)
    t.match(first[4], /^[A-Za-z0-9-]+$/, "the guest's host name, once customized")
    t.match(first[5], /^\d{1,3}(\.\d{1,3}){3}/, 'its IP address')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'deployment-title')
    await shot(page, '3-clones')
    await page.getByRole('button', { name: 'Close' }).click()
    t.equal(await page.locator('#deployment').isVisible(), false)
  })

  await t.test('a resize asks first: cancelled changes nothing, confirmed changes the size', async (t) => {
    const resize = page.getByRole('button', { name: 'Resize pool room-alpha' })
    await resize.click()
    const dialog = page.getByRole('dialog', { name: 'Resize room-alpha' })
    await dialog.waitFor()
    const field = dialog.getByLabel('New size (clones)')
    t.equal(await field.inputValue(), '3')
    await field.fill('5')
    // The pools are redrawn behind the open dialog (every 5 s): the button that opened it is replaced.
    const updated = await page.locator('#pools-updated').innerText()
    await page.locator('#pools-updated').filter({ hasNotText: updated }).waitFor()
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'hidden' })
    t.equal((await api('GET', '/v1/pools/room-alpha')).body.size, 3, 'cancelled: the size is unchanged')
    t.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Resize pool room-alpha', 'the focus is back on the button')

    await resize.click()
    await dialog.waitFor()
    await field.fill('2001')
    await dialog.getByRole('button', { name: 'Resize' }).click()
    await dialog.getByText('Give a whole number from 0 to 2000.').waitFor()
    t.equal((await api('GET', '/v1/pools/room-alpha')).body.size, 3, 'refused in the page: nothing asked')
    await field.fill('4')
    await shot(page, '4-resize-dialog')
    await dialog.getByRole('button', { name: 'Resize' }).click()
    await dialog.waitFor({ state: 'hidden' })
    await page.locator('#notice', { hasText: 'Resizing room-alpha to 4: started.' }).waitFor()
    t.equal((await api('GET', '/v1/pools/room-alpha')).body.size, 4, 'the API has the new size')
    await page.locator('tr[data-pool="room-alpha"] [data-field="size"]', { hasText: /^4$/ }).waitFor()
    // Its deployment is followed to the end, and the pool then has 4 live clones.
    await page.locator('tr[data-pool="room-alpha"] [data-field="live"]', { hasText: /^4$/ }).waitFor({ timeout: 180_000 })
    const deployments = (await api('GET', '/v1/pools/room-alpha')).body.deployments
    t.equal(deployments.length, 2)
    t.ok(deployments.every((d: any) => d.status === 'succeeded'))
  })

  await t.test('the space report with its chart', async (t) => {
    await page.getByRole('button', { name: 'Measure again' }).click()
    const chart = page.locator('#space-body svg.chart')
    await chart.waitFor()
    t.match(await chart.locator('title').first().textContent(), /\S/)
    const total = page.locator('#space-body tr.total')
    await total.waitFor()
    t.match(await total.innerText(), /All parents\s+12\b/, '4 + 8 clones measured')
    await shot(page, '5-pools-and-space')
  })

  await t.test('refresh and strip back ask first too; a confirmed strip is followed to its end', async (t) => {
    // A refresh opened from the keyboard and cancelled with its button: nothing starts.
    await page.getByRole('button', { name: 'Refresh pool room-beta' }).focus()
    await page.keyboard.press('Enter')
    const refresh = page.getByRole('dialog', { name: 'Refresh room-beta' })
    await refresh.waitFor()
    t.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-cancel', 'Cancel has the focus first')
    t.match(await refresh.innerText(), /Each of the 8 live clones of room-beta is destroyed and made again/)
    await refresh.getByRole('button', { name: 'Cancel' }).click()
    await refresh.waitFor({ state: 'hidden' })
    t.equal((await api('GET', '/v1/pools/room-beta')).body.deployments.length, 1, 'no refresh started')

    await page.getByRole('button', { name: 'Strip back pool room-alpha' }).click()
    const strip = page.getByRole('dialog', { name: 'Strip back room-alpha' })
    await strip.waitFor()
    t.match(await strip.innerText(), /All 4 clones of room-alpha are destroyed in vCenter/)
    await shot(page, '6-strip-dialog')
    await strip.getByRole('button', { name: 'Strip back' }).click()
    await page.locator('#notice', { hasText: 'Stripping back room-alpha: started.' }).waitFor()
    const card = page.locator('article.deployment', { hasText: 'strip of room-alpha' })
    await card.waitFor()
    await card.locator('[data-field="status"]', { hasText: 'succeeded' }).waitFor({ timeout: 180_000 })
    t.equal(await card.locator('[data-step="destroyed"] [data-field="count"]').innerText(), '4')
    const listed = (await api('GET', '/v1/pools')).body.pools.find((p: any) => p.name === 'room-alpha')
    t.equal(listed?.status, 'stripped', 'the API has it stripped')
    await page.locator('tr[data-pool="room-alpha"].stripped').waitFor()
    t.equal(await page.getByRole('button', { name: 'Resize pool room-alpha' }).isDisabled(), true, 'a stripped pool cannot be changed')
    await shot(page, '7-stripped')
  })

  await t.test('a read-only token sees the pools but no buttons to change them', async (t) => {
    // Another tab: the token of the first is not there (sessionStorage is per tab).
    const reader = await context.newPage()
    t.teardown(() => reader.close())
    await reader.goto(`${base}/ui/`)
    await reader.getByLabel('Access token').fill(service.token('deployments:read', 'observer', { groups: ['room'] }))
    await reader.getByRole('button', { name: 'Sign in' }).click()
    await reader.locator('tr[data-pool="room-beta"]').waitFor()
    t.equal(await reader.getByRole('button', { name: /^Resize pool/ }).count(), 0)
    t.equal(await reader.getByRole('columnheader', { name: 'Change' }).count(), 0)
    t.match(await reader.locator('#who').innerText(), /observer \(deployments:read\)/)
  })

  await t.test('a change the service refuses is said on the page, and nothing starts', async (t) => {
    // room-beta grows through the API (8 more clones, in waves); meanwhile the page asks for a refresh.
    const grow = await api('PATCH', '/v1/pools/room-beta', { size: 16 })
    t.equal(grow.status, 202)
    await page.getByRole('button', { name: 'Refresh pool room-beta' }).click()
    const refresh = page.getByRole('dialog', { name: 'Refresh room-beta' })
    await refresh.getByRole('button', { name: 'Refresh' }).click()
    const problem = page.locator('#problem')
    await problem.filter({ hasText: 'POOL_BUSY' }).waitFor()
    t.match(await problem.innerText(), /room-beta.* is changing; try again once its current deployment is over \(POOL_BUSY\)/)
    t.equal(await problem.getAttribute('role'), 'alert')
    t.equal((await waitForDeployment(service, grow.body.deploymentId, 300_000)).status, 'succeeded')
    const kinds = (await api('GET', '/v1/pools/room-beta')).body.deployments.map((d: any) => d.kind).sort()
    t.same(kinds, ['deploy', 'deploy'], 'no refresh was started')
    // The browser logs the 409 it was answered; that is the page working, not a fault.
    for (let i = faults.length - 1; i >= 0; i--) if (/status of 409/.test(faults[i]!)) faults.splice(i, 1)
  })

  await t.test('a token that expires while the page is open: signed out, and told why', async (t) => {
    const tab = await context.newPage()
    t.teardown(() => tab.close())
    const shortLived = createSigner({ key: service.secret, algorithm: 'HS256', expiresIn: 6_000 })({ sub: 'short', scope: 'deployments:read', groups: ['room'] })
    await tab.goto(`${base}/ui/`)
    await tab.getByLabel('Access token').fill(shortLived)
    await tab.getByRole('button', { name: 'Sign in' }).click()
    await tab.locator('tr[data-pool="room-beta"]').waitFor()
    // The pools are read every 5 s: the first read after the token's end is refused.
    await tab.locator('#notice', { hasText: 'The service refused the token' }).waitFor({ timeout: 120_000 })
    t.equal(await tab.evaluate(() => sessionStorage.length), 0)
    t.equal(await tab.getByLabel('Access token').isVisible(), true)
    t.equal(await tab.locator('tr[data-pool]').count(), 0, 'nothing of the pools is left on the page')
  })

  await t.test('no fault in the page: nothing refused by the CSP, no script error', async (t) => {
    t.same(faults, [])
  })

  await t.test('sign out forgets the token', async (t) => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Access token').waitFor()
    t.equal(await page.evaluate(() => sessionStorage.length), 0)
    t.equal(await page.locator('#signed-in').isVisible(), false)
    await page.reload()
    await page.getByLabel('Access token').waitFor()
    t.equal(await page.locator('tr[data-pool]').count(), 0)
  })
})
