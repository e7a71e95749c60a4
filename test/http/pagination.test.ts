/**
 * Every REST list pages the same way: `limit` and `cursor`, `nextCursor` in the answer and a
 * `Link: <...>; rel="next"` header naming the next page. The pure helpers, then the lists of a
 * running service followed link by link to the end (clones, pools), with a malformed cursor refused.
 * Pools are created without a startNumber: each starts at the lowest number whose names are free.
 */
import t from 'tap'
import { decodeCursor, encodeCursor, pageOfList } from '../../src/http/pagination.js'
import { startTestService, waitForDeployment, type TestService } from '../helpers/service.js'

t.test('pageOfList: pages in the given order, each after the last key shown', async (t) => {
  const all = ['a', 'b', 'c', 'd', 'e']
  const first = pageOfList(all, { limit: 2 }, (x) => x)
  t.same(first.items, ['a', 'b'])
  const second = pageOfList(all, { limit: 2, cursor: first.nextCursor! }, (x) => x)
  t.same(second.items, ['c', 'd'])
  const last = pageOfList(all, { limit: 2, cursor: second.nextCursor! }, (x) => x)
  t.same(last, { items: ['e'], nextCursor: null })
  t.same(pageOfList(all, { limit: 5 }, (x) => x).nextCursor, null, 'exactly one page: no next')
  t.same(pageOfList(['a', 'c', 'e'], { limit: 2, cursor: encodeCursor(['b']) }, (x) => x).items, ['c', 'e'], 'a removed item: after where it was')
  t.same(pageOfList(all, {}, (x) => x).items.length, 5, 'default limit 100')
  t.throws(() => decodeCursor('bm90IGpzb24', 1), { code: 'VALIDATION_FAILED' })
  t.throws(() => decodeCursor(encodeCursor(['a', 'b']), 1), { code: 'VALIDATION_FAILED' }, 'a cursor of another list')
})

let service: TestService
t.before(async () => {
  service = await startTestService()
})
t.teardown(() => service?.stop())

/** Follows Link headers from `url` to the last page, answering every page's items. */
async function follow(t: Pick<typeof import("tap").default, "equal" | "notOk" | "match">, url: string, key: string): Promise<unknown[][]> {
  const pages: unknown[][] = []
  let next: string | undefined = url
  while (next && pages.length < 20) {
    const res: Awaited<ReturnType<TestService['app']['inject']>> = await service.app.inject({ url: next, headers: service.auth('deployments:read') })
    t.equal(res.statusCode, 200, res.body)
    const body = res.json()
    pages.push(body[key])
    const link = res.headers.link as string | undefined
    if (body.nextCursor === null) {
      t.notOk(link, `${next}: no Link on the last page`)
      next = undefined
    } else {
      t.match(link, /^<\/v1\/[^>]+>; rel="next"$/, `${next}: Link names the next page`)
      next = /^<([^>]+)>/.exec(link!)![1]
      t.equal(new URL(next!, 'http://x').searchParams.get('cursor'), body.nextCursor, 'the Link carries nextCursor')
    }
  }
  return pages
}

t.test('clones and pools, page by page to the end; pools start at the lowest free number', async (t) => {
  const deploy = await service.app.inject({
    method: 'POST',
    url: '/v1/deployments',
    headers: service.auth('deployments:write'),
    payload: { parent: 'Tmpl Capture 1.0', prefix: 'Paged', count: 5 },
  })
  t.equal(deploy.statusCode, 202, deploy.body)
  t.equal(deploy.json().startNumber, 1, 'a new prefix starts at 1')
  await waitForDeployment(service, deploy.json().id)

  const clonePages = await follow(t, '/v1/clones?prefix=Paged&limit=2', 'clones')
  t.same(
    clonePages.map((page) => (page as { name: string }[]).map((c) => c.name)),
    [['Paged01', 'Paged02'], ['Paged03', 'Paged04'], ['Paged05']],
  )

  for (const name of ['pages-b', 'pages-a']) {
    const created = await service.app.inject({
      method: 'POST',
      url: '/v1/pools',
      headers: service.auth('deployments:write'),
      payload: { name, parent: 'Tmpl Capture 1.0', prefix: 'Paged', size: 1 },
    })
    t.equal(created.statusCode, 202, created.body)
    await waitForDeployment(service, created.json().deploymentId)
  }
  const poolPages = await follow(t, '/v1/pools?limit=1', 'pools')
  t.same(
    poolPages.map((page) => (page as { name: string; startNumber: number }[]).map((p) => [p.name, p.startNumber])),
    [[['pages-a', 7]], [['pages-b', 6]]],
    'by name; each pool started after the names taken before it (Paged01-05, then 06)',
  )

  const refused = await service.app.inject({ url: '/v1/pools?cursor=bm90LWEtY3Vyc29y', headers: service.auth('deployments:read') })
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().code, 'VALIDATION_FAILED')
  const tooMany = await service.app.inject({ url: '/v1/clones?limit=1001', headers: service.auth('deployments:read') })
  t.equal(tooMany.statusCode, 400)
})
