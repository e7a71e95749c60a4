/**
 * Space through the HTTP API: the forecast of the seed's figures, the same figures measured from the
 * simulator (whose storage model is the seed's, sim/lab/storage.go) after deploying the seed's 75
 * linked clones, the chart rendered in headless Chromium (Debian's `chromium`, installed by .ci/run),
 * and the free-space check that refuses a deployment that would not fit.
 */
import { chromium, type Browser } from 'playwright-core'
import t from 'tap'
import { CHART_HEIGHT, CHART_MIN_WIDTH } from '../../../src/modules/reports/space-chart.js'
import { setDatastoreCapacity, startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
]
const SEED_GROUPS = [
  { name: 'Capture', count: 25, provisionedGB: 11, usedGB: 3.34, deltaGB: 0.13 },
  { name: 'Packaging', count: 25, provisionedGB: 8, usedGB: 3.72, deltaGB: 0.13 },
  { name: 'Verification', count: 25, provisionedGB: 8, usedGB: 2.49, deltaGB: 0.13 },
]

let service: TestService

t.before(async () => {
  service = await startTestService()
})
t.teardown(() => service?.stop())

const READ = () => service.auth('deployments:read')


t.test("the forecast of the seed's groups: 675, 238.75 and 19.3 GB", async (t) => {
  const res = await service.app.inject({ method: 'POST', url: '/v1/reports/space/forecast', headers: READ(), payload: { groups: SEED_GROUPS } })
  t.equal(res.statusCode, 200, res.body)
  const body = res.json()
  t.equal(body.unit, 'GB')
  t.same(body.total, {
    count: 75,
    traditionalGB: 675,
    thinGB: 238.75,
    linkedGB: 19.3,
    savings: { versusTraditional: { gb: 655.7, percent: 97.1 }, versusThin: { gb: 219.45, percent: 91.9 } },
  })
  t.same(body.groups.map((g: any) => [g.name, g.traditionalGB, g.thinGB, g.linkedGB]), [
    ['Capture', 275, 83.5, 6.59],
    ['Packaging', 200, 93, 6.97],
    ['Verification', 200, 62.25, 5.74],
  ])

  const refusals: [object, RegExp][] = [
    [{ groups: [] }, /fewer than 1|at least/],
    [{ groups: [{ ...SEED_GROUPS[0], count: -1 }] }, /count/],
    [{ groups: [{ ...SEED_GROUPS[0], usedGB: '3.34' }] }, /usedGB/],
    [{ groups: [{ ...SEED_GROUPS[0], usedGB: 12 }] }, /usedGB \(12\) is more than provisionedGB \(11\)/],
    [{ groups: [SEED_GROUPS[0], SEED_GROUPS[0]] }, /"Capture" is given twice/],
    [{ groups: SEED_GROUPS, extra: 1 }, /additional/],
  ]
  for (const [payload, message] of refusals) {
    const bad = await service.app.inject({ method: 'POST', url: '/v1/reports/space/forecast', headers: READ(), payload })
    t.equal(bad.statusCode, 400, JSON.stringify(payload))
    t.equal(bad.json().code, 'VALIDATION_FAILED')
    t.match(bad.json().message, message)
  }
  const anonymous = await service.app.inject({ method: 'POST', url: '/v1/reports/space/forecast', payload: { groups: SEED_GROUPS } })
  t.equal(anonymous.statusCode, 401)
})

t.test('before any deployment, nothing is measured', async (t) => {
  const res = await service.app.inject({ url: '/v1/reports/space', headers: READ() })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { unit: 'GB', parents: [], total: { count: 0, traditionalGB: 0, thinGB: 0, linkedGB: 0 }, missingClones: 0 })
})

t.test('a deployment that would not fit in the datastore is refused, and nothing changes', async (t) => {
  const full = await setDatastoreCapacity(service.sim, 1024)
  t.teardown(() => setDatastoreCapacity(service.sim, 64 * 1024))
  t.equal(full.capacityGB, 1024)
  await service.sim.resetStats()
  // 500 clones of a parent with 4 GB of memory: 500 x (0.13 GB delta + 4 GB swap) > 1 TiB.
  const res = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth(),
    payload: { parent: 'Tmpl Capture 1.0', count: 500, startNumber: 100 },
  })
  t.equal(res.statusCode, 422, res.body)
  const body = res.json()
  t.equal(body.code, 'INSUFFICIENT_SPACE')
  t.match(body.message, /The datastore "LocalDS_0" has [\d.]+ GB free; 500 linked clones need about 2065 GB/)
  t.match(body.details, { datastore: 'LocalDS_0', requiredGB: 2065, perCloneGB: 4.13, count: 500 })
  t.equal(body.details.freeGB, Math.round(full.freeGB * 100) / 100, "the datastore's free space, as vCenter reports it")
  const stats = await service.sim.stats()
  for (const method of ['CloneVM_Task', 'SetField', 'AddCustomFieldDef']) t.notOk(stats.methods[method], `no ${method}`)
  const { rows } = await service.app.database.pool.query('SELECT count(*)::int AS n FROM deployments')
  t.equal(rows[0].n, 0, 'no deployment recorded')
})

t.test("the seed's 75 linked clones, measured: 675, 238.75 and 19.3 GB, and the chart of them", async (t) => {
  for (const parent of ['Tmpl Capture 1.0', 'Tmpl Packaging 1.0', 'Tmpl Verification 1.0']) {
    const post = await service.app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth(), payload: { parent, count: 25, startNumber: 1 } })
    t.equal(post.statusCode, 202, post.body)
    const done = await waitForDeployment(service, post.json().id, 300_000)
    t.equal(done.status, 'succeeded', parent)
  }

  await service.sim.resetStats()
  const res = await service.app.inject({ url: '/v1/reports/space', headers: READ() })
  t.equal(res.statusCode, 200, res.body)
  const report = res.json()
  t.equal((await service.sim.stats()).methods.RetrievePropertiesEx?.count, 1, 'every parent and clone in one bulk read')
  t.ok(Math.abs(Date.parse(report.measuredAt) - Date.now()) < 60_000, 'with the time of measurement')
  t.same(
    report.parents.map((p: any) => [p.name, p.count, p.provisionedGB, p.usedGB, p.deltaGB, p.traditionalGB, p.thinGB, p.linkedGB]),
    [
      ['Tmpl Capture 1.0', 25, 11, 3.34, 0.13, 275, 83.5, 6.59],
      ['Tmpl Packaging 1.0', 25, 8, 3.72, 0.13, 200, 93, 6.97],
      ['Tmpl Verification 1.0', 25, 8, 2.49, 0.13, 200, 62.25, 5.74],
    ],
  )
  t.match(report.parents[0].moref, /^vm-/)
  t.match(report.total, { count: 75, traditionalGB: 675, thinGB: 238.75, linkedGB: 19.3, savings: { versusTraditional: { percent: 97.1 } } })
  t.equal(report.missingClones, 0)

  const svg = await service.app.inject({ url: '/v1/reports/space.svg', headers: READ() })
  t.equal(svg.statusCode, 200)
  t.match(svg.headers['content-type'], /^image\/svg\+xml/)
  t.match(svg.headers['content-security-policy'], /default-src 'none'/)
  t.notMatch(svg.body, /<script|\son\w+=|href=/i, 'no script, no handler, no link')
  t.match(svg.body, /<title id="chart-title">/)
  t.match(svg.body, /<desc id="chart-desc">Tmpl Capture 1\.0 \(25 clones\): traditional 275 GB, thin 83\.5 GB, linked 6\.59 GB\./)

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS })
  t.teardown(() => browser.close())

  await t.test('rendered in Chromium: one bar per figure and parent, heights proportional to the figures', async (t) => {
    const page = await browser.newPage()
    await page.goto(`data:image/svg+xml;base64,${Buffer.from(svg.body).toString('base64')}`)
    const bars = await page.$$eval('rect.bar', (rects) =>
      rects.map((r) => ({
        parent: r.getAttribute('data-parent'),
        figure: r.getAttribute('data-figure'),
        value: Number(r.getAttribute('data-value')),
        height: r.getBoundingClientRect().height,
        bottom: r.getBoundingClientRect().bottom,
      })),
    )
    t.equal(bars.length, 9)
    const expected = new Map(report.parents.flatMap((p: any) => [
      [`${p.name}/traditional`, p.traditionalGB],
      [`${p.name}/thin`, p.thinGB],
      [`${p.name}/linked`, p.linkedGB],
    ]))
    for (const bar of bars) t.equal(bar.value, expected.get(`${bar.parent}/${bar.figure}`), `${bar.parent} ${bar.figure}`)
    const pxPerGB = bars[0]!.height / bars[0]!.value
    for (const bar of bars) {
      t.ok(Math.abs(bar.height - bar.value * pxPerGB) < 0.1, `${bar.parent} ${bar.figure}: ${bar.height.toFixed(2)} px for ${bar.value} GB`)
    }
    t.ok(new Set(bars.map((b) => Math.round(b.bottom))).size === 1, 'all bars stand on one baseline')
    const tallest = bars.find((b) => b.figure === 'traditional' && b.parent === 'Tmpl Capture 1.0')!
    t.ok(tallest.height > 150, 'the tallest bar uses most of the plot')
    t.ok(bars.every((b) => b.height > 2), 'the smallest bar (5.74 GB) is still visible')

    const labels = await page.$$eval('text', (texts) => texts.map((x) => x.textContent))
    for (const label of ['Tmpl Capture 1.0', 'Tmpl Packaging 1.0', 'Tmpl Verification 1.0', '275', '83.5', '6.59', 'Linked clones', '25 clones']) {
      t.ok(labels.includes(label), `label "${label}"`)
    }
    t.equal(await page.evaluate(() => document.documentElement.getAttribute('role')), 'img')
  })

  await t.test('embedded as an image, without JavaScript, as a portal would', async (t) => {
    const context = await browser.newContext({ javaScriptEnabled: false })
    const page = await context.newPage()
    const src = `data:image/svg+xml;base64,${Buffer.from(svg.body).toString('base64')}`
    await page.setContent(`<!doctype html><img id="chart" alt="Disk space per parent" src="${src}">`)
    const image = page.locator('#chart')
    await image.waitFor()
    const box = await image.boundingBox()
    t.ok(box && box.width >= CHART_MIN_WIDTH && box.height === CHART_HEIGHT, `drawn at its size (${box?.width} x ${box?.height})`)
    await context.close()
  })
})
