import t from 'tap'
import { DEFAULT_COPIED_ATTRIBUTES } from '../../src/domain/attributes.js'
import { buildPlan, normalizeRequest, type ParentFacts } from '../../src/domain/plan.js'

const parent = (over: Partial<ParentFacts> = {}): ParentFacts => ({
  name: 'Tmpl Capture 1.0',
  moref: 'vm-1',
  folder: 'group-v3',
  resourcePool: 'resgroup-9',
  host: 'host-21',
  currentSnapshot: { moref: 'snapshot-2', name: 'Base' },
  attributes: new Map([
    ['Customisation', 'Capture'],
    ['Project', 'Training <&>'],
    ['Logon User Password', 'pw'],
  ]),
  hasNonPersistentDisk: false,
  ...over,
})

const request = { parent: 'Tmpl Capture 1.0', count: 3, startNumber: 1 }

t.test('a plan names the clones and copies the attributes, Template last', async (t) => {
  const plan = buildPlan(normalizeRequest(request), { parent: parent(), customizationSpecExists: true, takenNames: [] })
  t.same(plan.names, ['Capture01', 'Capture02', 'Capture03'])
  t.equal(plan.customizationSpec, 'Capture')
  t.same(plan.copiedAttributes, DEFAULT_COPIED_ATTRIBUTES)
  t.same(plan.attributeValues.at(-1), { name: 'Template', value: 'Tmpl Capture 1.0' })
  t.same(plan.attributeValues.find((a) => a.name === 'Project'), { name: 'Project', value: 'Training <&>' })
  // An attribute the parent lacks is copied as empty, as the seed does.
  t.same(plan.attributeValues.find((a) => a.name === 'Role'), { name: 'Role', value: '' })
  t.same(plan.warnings, [])
  t.same(plan.snapshot, { moref: 'snapshot-2', name: 'Base' })
})

t.test('a prefix and attribute list given in the request win', async (t) => {
  const plan = buildPlan(normalizeRequest({ ...request, prefix: 'Lab', startNumber: 9, attributes: ['Project', 'Project'] }), {
    parent: parent(),
    customizationSpecExists: true,
    takenNames: [],
  })
  t.same(plan.names, ['Lab09', 'Lab10', 'Lab11'])
  t.same(plan.attributeValues.map((a) => a.name), ['Project', 'Template'])
})

t.test('refusals carry their code and what a person needs to fix them', async (t) => {
  const normalized = normalizeRequest(request)
  t.throws(() => buildPlan(normalized, { parent: parent({ currentSnapshot: undefined }), customizationSpecExists: true, takenNames: [] }), {
    code: 'SNAPSHOT_MISSING',
    statusCode: 422,
  })
  t.throws(() => buildPlan(normalized, { parent: parent(), customizationSpecExists: false, takenNames: [] }), {
    code: 'CUSTOMIZATION_SPEC_NOT_FOUND',
    statusCode: 422,
    message: /"Capture"/,
  })
  t.throws(
    () => buildPlan(normalized, { parent: parent({ attributes: new Map() }), customizationSpecExists: undefined, takenNames: [] }),
    { code: 'CUSTOMIZATION_SPEC_NOT_FOUND', message: /no value in its "Customisation" attribute/ },
  )
  t.throws(() => buildPlan(normalized, { parent: parent(), customizationSpecExists: true, takenNames: ['Capture03', 'Capture01', 'Other'] }), {
    code: 'NAME_CONFLICT',
    statusCode: 409,
    details: { names: ['Capture01', 'Capture03'] },
  })
  const maintenance = [
    { moref: 'host-21', name: 'esx-1', usable: false },
    { moref: 'host-22', name: 'esx-2', usable: false },
  ]
  t.throws(() => buildPlan(normalized, { parent: parent(), customizationSpecExists: true, takenNames: [], hosts: maintenance }), {
    code: 'NO_HOST_AVAILABLE',
    statusCode: 422,
    message: /"Tmpl Capture 1\.0"/,
    details: { parent: 'Tmpl Capture 1.0' },
  })
  const oneLeft = buildPlan(normalized, {
    parent: parent(),
    customizationSpecExists: true,
    takenNames: [],
    hosts: [...maintenance, { moref: 'host-23', name: 'esx-3', usable: true }],
  })
  t.same(new Set(oneLeft.placement), new Set(['host-23']), 'only the usable host is placed on')
})

t.test('names are checked before vCenter is asked anything', async (t) => {
  t.throws(() => normalizeRequest({ parent: 'Standalone', count: 1, startNumber: 1 }), { code: 'VALIDATION_FAILED', message: /second word/ })
  t.throws(() => normalizeRequest({ ...request, prefix: 'x'.repeat(79) }), { code: 'VALIDATION_FAILED', message: /characters long/ })
  t.throws(() => normalizeRequest({ ...request, prefix: 'bad\nname' }), { code: 'VALIDATION_FAILED', message: /control/ })
})

t.test('an independent-nonpersistent disk is a warning, not a refusal', async (t) => {
  const plan = buildPlan(normalizeRequest(request), {
    parent: parent({ hasNonPersistentDisk: true }),
    customizationSpecExists: true,
    takenNames: [],
  })
  t.equal(plan.warnings[0]?.code, 'PARENT_HAS_NONPERSISTENT_DISK')
})
