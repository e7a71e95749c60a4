import t from 'tap'
import { DEFAULT_HOST_LIMIT, classifyDrift, isEmptyRepair, repairPlan, type ObservedVm, type RecordedClone } from '../../src/domain/drift.js'

const at = new Date('2026-11-26T12:00:00Z')
const clone = (n: number): RecordedClone => ({ id: `id${n}`, name: `Wave0${n}`, number: n, moref: `vm-${n}` })
const vm = (n: number, over: Partial<ObservedVm> = {}): [string, ObservedVm] => [
  `vm-${n}`,
  { moref: `vm-${n}`, name: `Wave0${n}`, powerState: 'poweredOn', host: 'host-1', ...over },
]

t.test('a pool that vCenter agrees with has no drift', async (t) => {
  const drift = classifyDrift([clone(1), clone(2)], new Map([vm(1), vm(2)]), 4, at)
  t.same(drift, { status: 'none', checkedAt: '2026-11-26T12:00:00.000Z', checked: 2, hosts: 1, hostLimit: 4, findings: [] })
  t.ok(isEmptyRepair(repairPlan(drift)))
})

t.test('each kind of drift is found, by clone number', async (t) => {
  const drift = classifyDrift(
    [clone(4), clone(1), clone(2), clone(3)],
    new Map([vm(1, { powerState: 'poweredOff' }), vm(3, { name: 'Renamed', host: 'host-2' }), vm(4, { powerState: 'suspended', name: 'Other', host: 'host-3' })]),
    2,
    at,
  )
  t.equal(drift.status, 'found')
  t.same(drift.findings, [
    { kind: 'powered_off', clone: 'Wave01', number: 1, expected: 'poweredOn', actual: 'poweredOff' },
    { kind: 'missing', clone: 'Wave02', number: 2 },
    { kind: 'renamed', clone: 'Wave03', number: 3, expected: 'Wave03', actual: 'Renamed' },
    { kind: 'powered_off', clone: 'Wave04', number: 4, expected: 'poweredOn', actual: 'suspended' },
    { kind: 'renamed', clone: 'Wave04', number: 4, expected: 'Wave04', actual: 'Other' },
    { kind: 'too_many_hosts', expected: 2, actual: 3 },
  ])
  t.equal(drift.hosts, 3)
  t.same(repairPlan(drift), { recreate: [2], powerOn: ['Wave01', 'Wave04'], rename: ['Wave03', 'Wave04'], rebuild: [], add: 0 })
})

t.test('hosts: at the limit is fine; no limit set means the default', async (t) => {
  const two = new Map([vm(1), vm(2, { host: 'host-2' })])
  t.equal(classifyDrift([clone(1), clone(2)], two, 2, at).status, 'none')
  t.equal(classifyDrift([clone(1), clone(2)], two, 1, at).findings[0]?.kind, 'too_many_hosts')
  const drift = classifyDrift([clone(1)], new Map([vm(1)]), null, at)
  t.equal(drift.hostLimit, DEFAULT_HOST_LIMIT)
  t.ok(isEmptyRepair(repairPlan(classifyDrift([clone(1), clone(2)], two, 1, at))), 'too many hosts is recorded, not repaired')
})

t.test('DRIFT_CHECK_MINUTES: default 5, 0 to 60', async (t) => {
  const { loadConfig } = await import('../../src/config/config.js')
  const base = { VCENTER_URL: 'https://vc.example.com/sdk', VCENTER_USERNAME: 'svc', VCENTER_PASSWORD: 'pw', JWT_SECRET: 'a'.repeat(32) }
  t.equal(loadConfig(base, '/srv').driftCheckMinutes, 5)
  t.equal(loadConfig({ ...base, DRIFT_CHECK_MINUTES: '0' }, '/srv').driftCheckMinutes, 0)
  t.throws(() => loadConfig({ ...base, DRIFT_CHECK_MINUTES: '61' }, '/srv'), /DRIFT_CHECK_MINUTES must be between 0 and 60/)
})

t.test('a pool with fewer live clones than its size is short, and a reconcile adds the difference', async (t) => {
  const at = new Date('2026-01-01T00:00:00Z')
  const observed = new Map<string, ObservedVm>([['vm-1', { moref: 'vm-1', name: 'Wave01', powerState: 'poweredOn', host: 'host-1' }]])
  const recorded: RecordedClone[] = [{ id: 'c1', name: 'Wave01', number: 1, moref: 'vm-1' }]
  const short = classifyDrift(recorded, observed, 8, at, { desired: 3, live: 1 })
  t.same(short.findings, [{ kind: 'short', expected: 3, actual: 1 }])
  t.equal(repairPlan(short).add, 2)
  t.notOk(isEmptyRepair(repairPlan(short)))
  t.equal(classifyDrift(recorded, observed, 8, at, { desired: 1, live: 1 }).status, 'none', 'at its size')
  t.equal(classifyDrift(recorded, observed, 8, at, { desired: 1, live: 2 }).status, 'none', 'above it (a scale down under way) is not short')
})

t.test('a clone failed in the guest step whose VM is still there is rebuilt, and fills its own place in a short pool', async (t) => {
  const at = new Date('2026-01-01T00:00:00Z')
  const observed = new Map<string, ObservedVm>([['vm-1', { moref: 'vm-1', name: 'Wave01', powerState: 'poweredOn', host: 'host-1' }]])
  const recorded: RecordedClone[] = [{ id: 'c1', name: 'Wave01', number: 1, moref: 'vm-1' }]
  const drift = classifyDrift(recorded, observed, 8, at, { desired: 4, live: 1 }, [{ name: 'Wave03', number: 3 }, { name: 'Wave02', number: 2 }])
  t.same(drift.findings, [
    { kind: 'guest_failed', clone: 'Wave02', number: 2 },
    { kind: 'guest_failed', clone: 'Wave03', number: 3 },
    { kind: 'short', expected: 4, actual: 1 },
  ])
  t.same(repairPlan(drift), { recreate: [], powerOn: [], rename: [], rebuild: [2, 3], add: 1 })
  const only = repairPlan(classifyDrift([], new Map(), 8, at, { desired: 1, live: 0 }, [{ name: 'Wave01', number: 1 }]))
  t.same([only.rebuild, only.add], [[1], 0], 'the rebuild is not added again')
  const smaller = repairPlan(classifyDrift([], new Map(), 8, at, { desired: 1, live: 0 }, [{ name: 'Wave02', number: 2 }, { name: 'Wave01', number: 1 }]))
  t.same([smaller.rebuild, smaller.add], [[1], 0], 'no more rebuilt than the pool lacks (scaled down meanwhile), lowest numbers first')
  t.notOk(isEmptyRepair(only))
})
