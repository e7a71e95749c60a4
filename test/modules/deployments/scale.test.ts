/**
 * 2,000 clones a deployment: a dry run of 2,000 is planned (2,001 is refused by size), and a real
 * deployment of 300 on the lab completes, answered as counts of every clone plus its first 100 clones,
 * the rest paged from `clonesNextCursor` with GET /v1/clones?deployment=ID.
 */
import t from 'tap'
import { startTestService, waitForDeployment, type TestService } from '../../helpers/service.js'

let service: TestService
t.before(async () => {
  service = await startTestService()
})
t.teardown(() => service?.stop())

const deploy = (payload: Record<string, unknown>) =>
  service.app.inject({ method: 'POST', url: '/v1/deployments', headers: service.auth('deployments:write'), payload: { parent: 'Tmpl Capture 1.0', ...payload } })

t.test('a dry run of 2,000 clones is planned; 2,001 is VALIDATION_FAILED', async (t) => {
  const planned = await deploy({ prefix: 'Big', count: 2000, dryRun: true })
  t.equal(planned.statusCode, 200, planned.body.slice(0, 500))
  t.equal(planned.json().clones.length, 2000)
  const refused = await deploy({ prefix: 'Big', count: 2001, dryRun: true })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().code, 'VALIDATION_FAILED')
})

t.test('a deployment of 300 completes; its GET shows counts of all and the first 100, the rest by cursor', async (t) => {
  const created = await deploy({ prefix: 'Wide', count: 300 })
  t.equal(created.statusCode, 202, created.body.slice(0, 500))
  const body = created.json()
  t.equal(body.clones.length, 100, 'the answer to the request shows the first 100 too')
  t.equal(body.progress.total, 300)
  t.type(body.clonesNextCursor, 'string')
  // A deadline, not a speed check: on a loaded 2-core machine 300 clones can take minutes.
  const done = await waitForDeployment(service, body.id, 600_000)
  t.equal(done.status, 'succeeded')
  t.equal(done.progress.total, 300)
  t.equal(done.progress.done, 300)
  t.equal(done.progress.byStatus.ready, 300, 'counted over every clone, not the 100 shown')
  t.same(done.clones.map((c: { name: string }) => c.name), Array.from({ length: 100 }, (_, i) => `Wide${String(i + 1).padStart(2, '0')}`))

  const names: string[] = done.clones.map((c: { name: string }) => c.name)
  let cursor: string | null = done.clonesNextCursor
  for (let pages = 0; cursor && pages < 10; pages++) {
    const res = await service.app.inject({ url: `/v1/clones?deployment=${body.id}&limit=100&cursor=${cursor}`, headers: service.auth('deployments:read') })
    t.equal(res.statusCode, 200, res.body.slice(0, 500))
    const page: { clones: { name: string; status: string }[]; nextCursor: string | null } = res.json()
    names.push(...page.clones.map((c) => c.name))
    cursor = page.nextCursor
  }
  t.same(names, Array.from({ length: 300 }, (_, i) => `Wide${String(i + 1).padStart(2, '0')}`), 'all 300, by number, once each')

  const other = await service.app.inject({ url: `/v1/clones?deployment=${body.id}`, headers: service.auth('deployments:read', 'someone-else') })
  t.same(other.json().clones, [], "another team's caller sees none of them")
})
