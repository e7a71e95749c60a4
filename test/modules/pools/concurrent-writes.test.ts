/**
 * Concurrent writes to pools, as a retrying ticket integration sends them: creates, resizes and strip
 * backs of a few pools at once. Every request answers (2xx, or a documented refusal such as
 * 409 POOL_BUSY) within seconds, nothing is left waiting for a database connection, and a deployment
 * still succeeds afterwards: the pools' locks never hold a connection while waiting for another.
 */
import t from 'tap'
import { startTestService, type TestService, waitForDeployment } from '../../helpers/service.js'

const PARENT = 'Tmpl Capture 1.0'
/** A request unanswered this long is a hang (the failure this test exists for), not slowness. */
const ANSWER_BOUND_MS = 30_000

let service: TestService

t.before(async () => {
  service = await startTestService()
})
t.teardown(async () => {
  await service?.stop()
})

function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, scope?: string) {
  return service.app.inject({ method, url, headers: service.auth(scope), ...(payload ? { payload } : {}) })
}

/** The answer, or a marker once `ms` have passed without one. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | 'no answer'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'no answer'>((resolve) => (timer = setTimeout(() => resolve('no answer'), ms)))
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

/** What each write may answer: its success, or a refusal the API documents for it. */
const DOCUMENTED: Record<string, { statuses: number[]; codes: string[] }> = {
  POST: { statuses: [202], codes: ['POOL_BUSY', 'NAME_CONFLICT'] },
  // 202 when the change starts a deployment, 200 when it has nothing to deploy.
  PATCH: { statuses: [200, 202], codes: ['POOL_BUSY', 'POOL_NOT_FOUND'] },
  DELETE: { statuses: [202], codes: ['POOL_BUSY', 'POOL_NOT_FOUND'] },
}

t.test('50 concurrent mixed writes, twice: all answer, the service stays usable, nothing leaks', async (t) => {
  // 25 pools: more than the application's 10 connections, so that locks holding a connection while
  // waiting for another would take them all. Each is created, then resized or stripped back, at once.
  const names = Array.from({ length: 25 }, (_, i) => `cw${String(i + 1).padStart(2, '0')}`)
  const prefix = (i: number) => `Cw${String.fromCharCode(97 + i)}`
  const writes: { method: 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object }[] = []
  names.forEach((name, i) => writes.push({ method: 'POST', url: '/v1/pools', payload: { name, parent: PARENT, prefix: prefix(i), startNumber: 1, size: 1 } }))
  names.forEach((name, i) =>
    writes.push(i % 2 === 0 ? { method: 'PATCH', url: `/v1/pools/${name}`, payload: { size: 2 } } : { method: 'DELETE', url: `/v1/pools/${name}` }),
  )
  t.equal(writes.length, 50)

  // Then the same pools, idle now, changed again at once: resized twice (planned with vCenter's
  // calls, then recorded under the lock), stripped back, or created again.
  const again: typeof writes = []
  names.forEach((name, i) => {
    again.push({ method: 'PATCH', url: `/v1/pools/${name}`, payload: { size: 3 } })
    again.push(
      i % 3 === 0
        ? { method: 'DELETE', url: `/v1/pools/${name}` }
        : i % 3 === 1
          ? { method: 'PATCH', url: `/v1/pools/${name}`, payload: { size: 1 } }
          : { method: 'POST', url: '/v1/pools', payload: { name, parent: PARENT, prefix: prefix(i), startNumber: 1, size: 1 } },
    )
  })

  for (const [wave, batch] of [writes, again].entries()) {
    const started = Date.now()
    const answers = await Promise.all(batch.map((w) => within(call(w.method, w.url, w.payload), ANSWER_BOUND_MS)))
    t.comment(`wave ${wave + 1}: ${batch.length} writes answered in ${Date.now() - started} ms`)

    const unanswered = answers.filter((a) => a === 'no answer').length
    t.equal(unanswered, 0, `every request answers within ${ANSWER_BOUND_MS / 1000} s`)
    // The service is wedged: every further step would wait out its bound too.
    if (unanswered > 0) return
    const undocumented: string[] = []
    const seen = new Map<string, number>()
    answers.forEach((res, i) => {
      if (res === 'no answer') return
      const w = batch[i]!
      const expected = DOCUMENTED[w.method]!
      const success = expected.statuses.includes(res.statusCode)
      const key = success ? `${w.method} ${res.statusCode}` : `${w.method} ${res.statusCode} ${res.json().code}`
      seen.set(key, (seen.get(key) ?? 0) + 1)
      const ok = success || (res.statusCode >= 400 && res.statusCode < 500 && expected.codes.includes(res.json().code))
      if (!ok) undocumented.push(`${w.method} ${w.url}: ${res.statusCode} ${res.body}`)
    })
    t.comment(JSON.stringify(Object.fromEntries(seen)))
    t.same(undocumented, [], 'every answer is a success or a documented refusal')
    if (wave === 0) t.ok([...seen.keys()].some((k) => k === 'POST 202'), 'some pool was created')
    else t.ok([...seen.keys()].some((k) => k === 'PATCH 202'), 'some pool was resized')

    // The pools' deployments all finish: the service is not wedged.
    for (const name of names) {
      const pool = await within(call('GET', `/v1/pools/${name}`, undefined, 'deployments:read'), ANSWER_BOUND_MS)
      t.not(pool, 'no answer', `GET /v1/pools/${name} answers`)
      if (pool === 'no answer' || pool.statusCode !== 200) continue
      for (const d of pool.json().deployments as { id: string }[]) await waitForDeployment(service, d.id)
    }
  }

  // A deployment succeeds afterwards.
  const deployed = await within(call('POST', '/v1/deployments', { parent: PARENT, prefix: 'Cwafter', count: 1, startNumber: 1 }), ANSWER_BOUND_MS)
  t.not(deployed, 'no answer', 'a deployment is answered')
  if (deployed !== 'no answer') {
    t.equal(deployed.statusCode, 202, deployed.body)
    t.equal((await waitForDeployment(service, deployed.json().id)).status, 'succeeded', 'and succeeds')
  }

  // Nothing left waiting for, or holding, the application's connections.
  const pool = service.app.database.pool
  t.equal(pool.waitingCount, 0, 'no request waits for a connection')
  const ready = await within(call('GET', '/health/ready'), ANSWER_BOUND_MS)
  t.not(ready, 'no answer')
  if (ready !== 'no answer') t.equal(ready.statusCode, 200, ready.body)
})
