import t from 'tap'
import { effectiveConcurrency, estimateDuration, secondsLeft } from '../../src/domain/estimate.js'
import { chooseHosts, placeClones, type HostCandidate } from '../../src/domain/placement.js'

const hosts = (n: number): HostCandidate[] =>
  Array.from({ length: n }, (_, i) => ({ moref: `host-${i}`, name: `H${i}`, usable: true }))

t.test('clones of a parent stay on at most hostLimit usable hosts, spread evenly', async (t) => {
  const chosen = chooseHosts(hosts(10), 8, new Map())
  t.equal(chosen.length, 8)
  const placement = placeClones(25, chosen, new Map())
  const perHost = new Map<string, number>()
  for (const h of placement) perHost.set(h, (perHost.get(h) ?? 0) + 1)
  t.equal(perHost.size, 8)
  t.same([...perHost.values()].sort(), [3, 3, 3, 3, 3, 3, 3, 4])
})

t.test('hosts not connected or in maintenance are not used', async (t) => {
  const candidates = hosts(4).map((h, i) => ({ ...h, usable: i % 2 === 0 }))
  t.same(chooseHosts(candidates, 8, new Map()).map((h) => h.moref), ['host-0', 'host-2'])
  t.same(chooseHosts(candidates.map((h) => ({ ...h, usable: false })), 8, new Map()), [])
})

t.test('hosts already carrying the parent are kept, so a later deployment adds none beyond the limit', async (t) => {
  const existing = new Map([
    ['host-7', 5],
    ['host-9', 2],
  ])
  const chosen = chooseHosts(hosts(10), 3, existing)
  t.same(chosen.map((h) => h.moref), ['host-7', 'host-9', 'host-0'])
  // New clones go to the least loaded chosen hosts first.
  t.same(placeClones(4, chosen, existing), ['host-0', 'host-0', 'host-9', 'host-0'])
})

t.test('natural host order: H2 before H10', async (t) => {
  const candidates = [
    { moref: 'a', name: 'H10', usable: true },
    { moref: 'b', name: 'H2', usable: true },
  ]
  t.same(chooseHosts(candidates, 1, new Map()).map((h) => h.name), ['H2'])
})

t.test('the tightest limit sets the concurrency', async (t) => {
  const limits = { perVcenter: 20, perHost: 8, perDatastore: 32 }
  t.equal(effectiveConcurrency(limits, 8), 20)
  t.equal(effectiveConcurrency(limits, 1), 8, 'one host: the host limit')
  t.equal(effectiveConcurrency({ ...limits, perDatastore: 5 }, 8), 5)
  t.equal(effectiveConcurrency({ ...limits, perDeployment: 3 }, 8), 3)
  t.equal(effectiveConcurrency(limits, 0), 8, 'unknown hosts count as one')
})

t.test('estimates in waves, then from the observed pace', async (t) => {
  t.same(estimateDuration(75, 20, 1.4), { concurrency: 20, waves: 4, seconds: 5.6 })
  t.same(estimateDuration(1, 20, 20), { concurrency: 20, waves: 1, seconds: 20 })
  const fallback = estimateDuration(100, 10, 20)
  t.equal(secondsLeft(0, 100, null, fallback), 200)
  t.equal(secondsLeft(25, 100, 30, fallback), 90, '25 done in 30 s: 75 more take 90 s')
  t.equal(secondsLeft(100, 100, 30, fallback), 0)
})

t.test('the guest step counts once: guests customize in parallel, after the last wave', async (t) => {
  t.same(estimateDuration(75, 20, 1.4, 120), { concurrency: 20, waves: 4, seconds: 125.6 })
  t.same(estimateDuration(0, 20, 1.4, 120), { concurrency: 20, waves: 0, seconds: 0 })
})
