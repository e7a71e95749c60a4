import t from 'tap'
import { AttributeFilterError, formatAttributeFilter, parseAttributeFilter } from '../../../src/modules/clones/attribute-filter.js'
import { driftOf } from '../../../src/modules/clones/attribute-sync.js'
import { everyMinutesCron } from '../../../src/jobs/queues.js'

t.test('attribute filters: name:value, split at the first colon', async (t) => {
  t.same(parseAttributeFilter('Project:Training 2010'), { name: 'Project', value: 'Training 2010' })
  t.same(parseAttributeFilter('Logon Time:10:30'), { name: 'Logon Time', value: '10:30' }, 'colons in the value are kept')
  t.same(parseAttributeFilter('Role:'), { name: 'Role', value: '' }, 'an empty value')
  t.same(parseAttributeFilter('Site\\:Room:B\\:12'), { name: 'Site:Room', value: 'B\\:12' }, 'a colon in the name is escaped')
  t.same(parseAttributeFilter('Back\\\\:slash'), { name: 'Back\\', value: 'slash' })
  t.type(t.throws(() => parseAttributeFilter('Project')), AttributeFilterError)
  t.throws(() => parseAttributeFilter(':x'), /name before its colon/)
  const err = t.throws(() => parseAttributeFilter('S3cret no colon')) as Error
  t.notMatch(err.message, /S3cret/, 'the text is not echoed')
  for (const f of [{ name: 'Site:Room', value: 'a:b' }, { name: 'x\\', value: '' }, { name: 'Project', value: `Training 2010 <&>'" Ünïcødé` }]) {
    t.same(parseAttributeFilter(formatAttributeFilter(f)), f)
  }
})

t.test('drift: vCenter values that differ from the records, absent counting as empty', async (t) => {
  const readStart = new Date('2026-01-13T16:00:00Z')
  const old = new Date('2026-01-13T15:00:00Z')
  const recorded = new Map([
    ['Role', { value: 'Capture', updatedAt: old }],
    ['Project', { value: 'Training', updatedAt: old }],
    ['Empty', { value: '', updatedAt: old }],
    ['Gone', { value: 'was here', updatedAt: old }],
    ['Patched', { value: 'new', updatedAt: new Date('2026-01-13T16:00:01Z') }],
  ])
  const seen = new Map([
    ['Role', 'Trainer'],
    ['Project', 'Training'],
    ['Owner', 'ben'],
    ['Patched', 'old'],
  ])
  t.same(driftOf(recorded, seen, readStart), [
    { name: 'Gone', value: '' },
    { name: 'Owner', value: 'ben' },
    { name: 'Role', value: 'Trainer' },
  ], 'Patched was written after vCenter was read: left for the next run')
})

t.test('sync schedule as cron', async (t) => {
  t.equal(everyMinutesCron(15), '*/15 * * * *')
  t.equal(everyMinutesCron(1), '*/1 * * * *')
  t.equal(everyMinutesCron(60), '0 * * * *')
})
