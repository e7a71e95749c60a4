/**
 * Idempotency keys: retries of one POST /v1/deployments under one key make one deployment and get
 * one answer (one after another, at once, and across a restart of the service); another body under the
 * key is refused with 422; keys are the caller's own; 5xx answers are not kept.
 */
import pg from 'pg'
import t from 'tap'
import { appWithLogs, startTestService, type TestService } from '../../helpers/service.js'

let service: TestService
let db: pg.Client
t.before(async () => {
  service = await startTestService({ runWorkers: false })
  db = new pg.Client({ connectionString: service.db.url })
  await db.connect()
})
t.teardown(async () => {
  await db?.end()
  await service?.stop()
})

const deploymentsOf = async (ticket: string) =>
  (await db.query('SELECT id FROM deployments WHERE ticket = $1', [ticket])).rows.map((r) => r.id as string)

const post = (app: TestService['app'], key: string, payload: Record<string, unknown>, sub = 'portal-user') =>
  app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: { ...service.auth('deployments:write deployments:read', sub), 'idempotency-key': key },
    payload,
  })

t.test('three sequential retries: one deployment, the same answer each time', async (t) => {
  const body = { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 1, ticket: 'RITM-IDEM-1' }
  const first = await post(service.app, 'key-seq-1', body)
  t.equal(first.statusCode, 202)
  t.notOk(first.headers['idempotent-replayed'], 'the first answer is not a replay')
  for (let i = 0; i < 3; i++) {
    // Same body, keys in another order: still the same request.
    const again = await post(service.app, 'key-seq-1', { ticket: body.ticket, startNumber: 1, count: 2, parent: body.parent })
    t.equal(again.statusCode, 202)
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.body, first.body, 'the same body')
    t.equal(again.headers.location, first.headers.location, 'the same Location')
  }
  t.same(await deploymentsOf('RITM-IDEM-1'), [first.json().id], 'one deployment')

  const reused = await post(service.app, 'key-seq-1', { ...body, count: 3 })
  t.equal(reused.statusCode, 422)
  t.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED')
  const otherPath = await service.app.inject({
    method: 'POST',
    url: '/v1/pools',
    headers: { ...service.auth('deployments:write'), 'idempotency-key': 'key-seq-1' },
    payload: { name: 'idem-pool', parent: 'Tmpl Capture 1.0', size: 1, startNumber: 900 },
  })
  t.equal(otherPath.statusCode, 422, 'the key on another path')
  t.equal(otherPath.json().code, 'IDEMPOTENCY_KEY_REUSED')
  t.same(await deploymentsOf('RITM-IDEM-1'), [first.json().id], 'still one deployment')

  const otherCaller = await post(service.app, 'key-seq-1', { ...body, startNumber: 50 }, 'another-user')
  t.equal(otherCaller.statusCode, 202, "another caller's key of the same name is its own")
  t.notOk(otherCaller.headers['idempotent-replayed'])
})

t.test('three concurrent retries: one deployment; each answer the first one or 409 IN_USE, and its retry the first one', async (t) => {
  const body = { parent: 'Tmpl Capture 1.0', count: 2, startNumber: 20, ticket: 'RITM-IDEM-2' }
  const answers = await Promise.all([1, 2, 3].map(() => post(service.app, 'key-conc-1', body)))
  const originals = answers.filter((a) => a.statusCode === 202 && !a.headers['idempotent-replayed'])
  t.equal(originals.length, 1, 'one request ran')
  const original = originals[0]!
  for (const a of answers) {
    if (a === original) continue
    if (a.statusCode === 409) {
      t.equal(a.json().code, 'IDEMPOTENCY_KEY_IN_USE')
      t.ok(Number(a.headers['retry-after']) >= 1, 'with Retry-After')
      const retried = await post(service.app, 'key-conc-1', body)
      t.equal(retried.body, original.body, 'the retry gets the first answer')
    } else {
      t.equal(a.statusCode, 202)
      t.equal(a.headers['idempotent-replayed'], 'true')
      t.equal(a.body, original.body)
    }
  }
  t.equal((await deploymentsOf('RITM-IDEM-2')).length, 1, 'one deployment')
})

t.test('across a restart: another process on the same database replays the answer', async (t) => {
  const body = { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 40, ticket: 'RITM-IDEM-3' }
  const before = await appWithLogs(service, t, { logLevel: 'silent' })
  const first = await post(before.app, 'key-restart-1', body)
  t.equal(first.statusCode, 202)
  await before.app.close()
  const after = await appWithLogs(service, t, { logLevel: 'silent' })
  for (let i = 0; i < 3; i++) {
    const again = await post(after.app, 'key-restart-1', body)
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.body, first.body)
    t.equal(again.headers.location, first.headers.location)
  }
  t.equal((await deploymentsOf('RITM-IDEM-3')).length, 1, 'one deployment')
})

t.test('a key whose holder died comes free after its lease; an unfinished one is in use until then', async (t) => {
  const body = { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 60, ticket: 'RITM-IDEM-4' }
  // A replica that claimed the key and died before answering, as its row says.
  const first = await post(service.app, 'key-dead-1', body)
  t.equal(first.statusCode, 202)
  await db.query("UPDATE idempotency_keys SET finished_at = NULL, response_status = NULL, response_body = NULL, locked_until = now() + interval '1 hour' WHERE key = 'key-dead-1'")
  const inUse = await post(service.app, 'key-dead-1', body)
  t.equal(inUse.statusCode, 409)
  t.equal(inUse.json().code, 'IDEMPOTENCY_KEY_IN_USE')
  await db.query("UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'key-dead-1'")
  const reused = await post(service.app, 'key-dead-1', { ...body, count: 2 })
  t.equal(reused.statusCode, 422, 'another body may not take over a dead holder\'s key')
  const taken = await post(service.app, 'key-dead-1', body)
  t.not(taken.headers['idempotent-replayed'], 'true', 'the same request runs again once the lease is over')
  t.equal(taken.statusCode, 409, 'and is answered (its names are taken by the first run)')
  t.equal(taken.json().code, 'NAME_CONFLICT')
  t.equal((await post(service.app, 'key-dead-1', body)).body, taken.body, 'that answer is kept')
})

t.test('refused before the handler: nothing is claimed; bad keys are 400; errors are kept', async (t) => {
  const invalid = await post(service.app, 'x'.repeat(256), { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 1 })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().code, 'VALIDATION_FAILED')
  const badBody = await post(service.app, 'key-bad-1', { parent: 'Tmpl Capture 1.0', count: 0, startNumber: 1 })
  t.equal(badBody.statusCode, 400)
  const { rows } = await db.query("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'key-bad-1'")
  t.equal(rows[0].n, 0, 'a request refused by validation claims no key')
  const missing = await post(service.app, 'key-404-1', { parent: 'No Such Parent', count: 1, startNumber: 1 })
  t.equal(missing.statusCode, 404)
  const again = await post(service.app, 'key-404-1', { parent: 'No Such Parent', count: 1, startNumber: 1 })
  t.equal(again.statusCode, 404)
  t.equal(again.headers['idempotent-replayed'], 'true', 'a 4xx answer is kept and replayed')
  t.equal(again.body, missing.body)
})
