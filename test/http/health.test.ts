/**
 * /health/ready answers in bounded time whatever happens: 503 when the database pool is exhausted,
 * and its vCenter check cannot be used to drive logins against the service account.
 */
import t from 'tap'
import { cachedCheck, withTimeout } from '../../src/http/health-routes.js'
import { startTestService, type TestService } from '../helpers/service.js'

t.test('cachedCheck: one check at a time, its answer kept for the period, either way', async (t) => {
  let clock = 0
  let calls = 0
  let answer = true
  let release!: () => void
  const check = cachedCheck(
    () => {
      calls++
      return new Promise<boolean>((resolve) => (release = () => resolve(answer)))
    },
    { okTtlMs: 100, failedTtlMs: 500 },
    () => clock,
  )
  const together = [check(), check(), check()]
  release()
  t.same(await Promise.all(together), [true, true, true])
  t.equal(calls, 1, 'callers at the same time share one check')
  clock = 99
  t.equal(await check(), true)
  t.equal(calls, 1, 'kept while fresh')
  clock = 100
  answer = false
  const failed = check()
  release()
  t.equal(await failed, false)
  t.equal(calls, 2, 'asked again once stale')
  clock = 599
  t.equal(await check(), false)
  t.equal(calls, 2, 'a failure is kept for its own period')
  clock = 600
  answer = true
  const again = check()
  release()
  t.equal(await again, true)
  t.equal(calls, 3)
})

t.test('withTimeout: false when the check does not answer in time, or throws', async (t) => {
  t.equal(await withTimeout(new Promise<boolean>(() => {}), 20), false)
  t.equal(await withTimeout(Promise.reject(new Error('x')), 1_000), false)
  t.equal(await withTimeout(Promise.resolve(true), 1_000), true)
})

t.test('with the service', async (t) => {
  const service: TestService = await startTestService({ runWorkers: false })
  t.teardown(() => service.stop())

  await t.test('every connection of the pool taken: 503 at once, not a hang', async (t) => {
    const pool = service.app.database.pool
    const held = await Promise.all(Array.from({ length: pool.options.max ?? 10 }, () => pool.connect()))
    // One more waiter, as under load: the pool is exhausted and queueing.
    const waiter = pool.connect()
    try {
      const started = Date.now()
      const ready = await service.app.inject({ url: '/health/ready' })
      t.equal(ready.statusCode, 503)
      t.same(ready.json(), { status: 'unavailable', checks: { database: 'unavailable', vcenter: 'ok' } })
      t.ok(Date.now() - started < 60_000, 'answered (the bound itself is READY_TIMEOUT_MS; no timing asserted)')
    } finally {
      for (const client of held) client.release()
      ;(await waiter).release()
    }
    t.equal((await service.app.inject({ url: '/health/ready' })).statusCode, 200, 'ready again once connections are free')
  })

  await t.test('fifty readiness checks while vCenter refuses the login cause at most one login', async (t) => {
    await service.app.vcenter.close() // drop the session: the next check must log in
    await service.sim.resetStats()
    const answers = await Promise.all(Array.from({ length: 50 }, () => service.app.inject({ url: '/health/ready' })))
    t.ok(answers.every((r) => r.statusCode === 200 || r.statusCode === 503))
    const logins = (await service.sim.stats()).methods.Login?.count ?? 0
    t.ok(logins <= 1, `${logins} login(s) for 50 checks`)
  })
})
