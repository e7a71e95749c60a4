import t from 'tap'
import { REDACTED, isSecretAttribute, redactAttributes } from '../../src/domain/attributes.js'
import { countByStatus, durationSeconds, finalDeploymentStatus } from '../../src/domain/progress.js'

t.test('attributes whose name contains Password are secrets', async (t) => {
  t.ok(isSecretAttribute('Logon Administrator Password'))
  t.ok(isSecretAttribute('password'))
  t.notOk(isSecretAttribute('Logon User Name'))
  const attrs = [
    { name: 'Logon User Password', value: 's3cret' },
    { name: 'Project', value: 'Training' },
  ]
  t.same(redactAttributes(attrs, false), [
    { name: 'Logon User Password', value: REDACTED },
    { name: 'Project', value: 'Training' },
  ])
  t.same(redactAttributes(attrs, true), attrs)
})

t.test('a deployment is final when all its clones are', async (t) => {
  t.equal(finalDeploymentStatus(['ready', 'cloning']), undefined)
  t.equal(finalDeploymentStatus(['ready', 'ready']), 'succeeded')
  t.equal(finalDeploymentStatus(['ready', 'failed']), 'failed')
  const counts = countByStatus(['ready', 'ready', 'failed', 'pending'])
  t.equal(counts.ready, 2)
  t.equal(counts.failed, 1)
  t.equal(counts.pending, 1)
  t.equal(counts.cloning, 0)
})

t.test('duration is in seconds, running ones measured to now', async (t) => {
  const start = new Date('2026-01-01T00:00:00Z')
  t.equal(durationSeconds(null, null), null)
  t.equal(durationSeconds(start, new Date('2026-01-01T00:01:05.250Z')), 65.3)
  t.equal(durationSeconds(start, null, new Date('2026-01-01T00:00:10Z')), 10)
})
