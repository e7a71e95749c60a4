import t from 'tap'
import { forecastSpace } from '../../../src/domain/space.js'
import { renderSpaceChart, scale } from '../../../src/modules/reports/space-chart.js'

t.test('the scale: a round top and round steps from 0', async (t) => {
  t.same(scale(275), { top: 300, step: 100 })
  t.same(scale(19.3), { top: 20, step: 5 })
  t.same(scale(6.59), { top: 8, step: 2 })
  t.same(scale(0.13), { top: 0.15, step: 0.05 })
  t.same(scale(1000), { top: 1000, step: 200 })
  t.same(scale(0), { top: 1, step: 0.2 })
})

t.test('names are escaped; every figure is in the text alternative', async (t) => {
  const { groups, total } = forecastSpace([{ name: `Tmpl <Kiosk> & "Co"`, count: 2, provisionedGB: 8, usedGB: 2, deltaGB: 0.5 }])
  const svg = renderSpaceChart({ groups, total })
  t.notMatch(svg, /<Kiosk>/)
  t.match(svg, /Tmpl &lt;Kiosk&gt; &amp; &quot;Co&quot;/)
  t.match(svg, /<desc id="chart-desc">Tmpl &lt;Kiosk&gt; &amp; &quot;Co&quot; \(2 clones\): traditional 16 GB, thin 4 GB, linked 3 GB\. Total for 2 clones/)
  t.match(svg, /data-figure="linked" data-value="3"/)
  t.notMatch(svg, /<script|<style|href=/)
})

t.test('no clones yet: an empty chart that says so', async (t) => {
  const svg = renderSpaceChart({ groups: [] })
  t.match(svg, /No clones measured yet/)
  t.notMatch(svg, /class="bar"/)
})
