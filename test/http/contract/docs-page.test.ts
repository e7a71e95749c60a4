/**
 * The reference page at /docs renders in a real browser (headless Chromium) from the service alone (no
 * CDN: the browser is kept off the network but for the service) and lists every operation.
 */
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { chromium } from 'playwright-core'
import t from 'tap'
import { generateContract } from '../../../scripts/lib/contract.js'
import { buildContractApp } from '../../../src/app.js'
import { loadConfig } from '../../../src/config/config.js'
import { parse as parseYaml } from 'yaml'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

t.test('/docs renders and lists the operations', async (t) => {
  t.ok(existsSync(CHROMIUM), `a Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM_PATH)`)
  const app = await buildContractApp(
    loadConfig({ VCENTER_URL: 'https://vcenter.invalid/sdk', VCENTER_USERNAME: 'x', VCENTER_PASSWORD: 'x', JWT_SECRET: 'x'.repeat(32), LOG_LEVEL: 'silent' }),
  )
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const doc = parseYaml((await generateContract())['openapi.yaml'])
  const operations = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((ops) => Object.values(ops))

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const elsewhere: string[] = []
  // Nothing but the service: a request anywhere else is recorded and refused.
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith(origin)) return route.continue()
    elsewhere.push(route.request().url())
    return route.abort()
  })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))

  await page.goto(`${origin}/docs`, { timeout: 60_000 })
  await page.waitForSelector('.opblock', { timeout: 60_000 })
  const listed = await page.$$eval('.opblock', (blocks) => blocks.map((b) => b.getAttribute('id') ?? ''))
  t.equal(listed.length, operations.length, `every operation listed (${listed.length})`)
  for (const op of operations) t.ok(listed.some((id) => id.endsWith(`-${op.operationId}`)), `${op.operationId} is on the page`)
  t.match(await page.textContent('.info .title'), /Linked-clone service/)
  t.same(elsewhere, [], 'nothing loaded from elsewhere')
  t.same(errors, [], 'no script error')
})
