/**
 * GET /v1/deployments: filtered by ticket, requester, status and kind, in cursor pages that follow the
 * Link header to the end without repeating or skipping one; GraphQL's deployments(filter: {ticket}).
 */
import t from 'tap'
import { gql } from '../../helpers/graphql.js'
import { startTestService, type TestService } from '../../helpers/service.js'

let service: TestService
// Every caller here is in one team: each sees the others' deployments (teams.test.ts tests the rest).
const TEAM = ['list-team']
const made: { id: string; ticket: string; requester: string }[] = []
t.before(async () => {
  service = await startTestService({ runWorkers: false })
  // Five deployments: three for one ticket (two callers), one for another, one without.
  const asks = [
    { ticket: 'RITM-LIST-1', sub: 'portal-a' },
    { ticket: 'RITM-LIST-1', sub: 'portal-b' },
    { ticket: 'RITM-LIST-2', sub: 'portal-a' },
    { ticket: 'RITM-LIST-1', sub: 'portal-a' },
    { ticket: undefined, sub: 'portal-a' },
  ]
  for (const [i, ask] of asks.entries()) {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/deployments',
      headers: service.auth('deployments:write', ask.sub, TEAM),
      payload: { parent: 'Tmpl Capture 1.0', count: 1, startNumber: 100 + i, ...(ask.ticket ? { ticket: ask.ticket } : {}) },
    })
    if (res.statusCode !== 202) throw new Error(res.body)
    made.push({ id: res.json().id, ticket: ask.ticket ?? '', requester: ask.sub })
  }
})
t.teardown(() => service?.stop())

const list = (query: string) => service.app.inject({ url: `/v1/deployments${query}`, headers: service.auth('deployments:read', 'portal-user', TEAM) })

t.test('filters: ticket, requester, status, kind', async (t) => {
  const byTicket = await list('?ticket=RITM-LIST-1')
  t.equal(byTicket.statusCode, 200)
  const ids = made.filter((m) => m.ticket === 'RITM-LIST-1').map((m) => m.id).reverse()
  t.same(byTicket.json().items.map((d: { id: string }) => d.id), ids, "the ticket's deployments, newest first")
  t.ok(byTicket.json().items.every((d: { ticket: string; progress: { total: number } }) => d.ticket === 'RITM-LIST-1' && d.progress.total === 1))
  t.equal(byTicket.json().nextCursor, null)
  t.notOk(byTicket.headers.link, 'no Link on the last page')

  const both = await list('?ticket=RITM-LIST-1&requester=portal-b')
  t.same(both.json().items.map((d: { id: string }) => d.id), [made[1]!.id])
  t.equal((await list('?ticket=RITM-LIST-1&status=succeeded')).json().items.length, 0, 'none has succeeded (no workers)')
  t.equal((await list('?ticket=RITM-LIST-1&status=queued&kind=deploy')).json().items.length, 3)
  t.equal((await list('?kind=strip')).json().items.length, 0)
  t.equal((await list('?ticket=NOPE')).json().items.length, 0)
  t.equal((await list('?pool=no-such-pool')).json().items.length, 0)
})

t.test('cursor pages follow the Link header to the end', async (t) => {
  const seen: string[] = []
  let url: string | undefined = '/v1/deployments?limit=2'
  let pages = 0
  while (url) {
    const res = await service.app.inject({ url, headers: service.auth('deployments:read', 'portal-user', TEAM) })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.ok(body.items.length <= 2)
    seen.push(...body.items.map((d: { id: string }) => d.id))
    pages++
    const link = res.headers.link as string | undefined
    if (body.nextCursor) {
      t.match(link, /^<\/v1\/deployments\?limit=2&cursor=[A-Za-z0-9_-]+>; rel="next"$/)
      url = /^<([^>]+)>/.exec(link!)![1]
    } else {
      t.notOk(link)
      url = undefined
    }
  }
  t.equal(pages, 3)
  t.same(seen, made.map((m) => m.id).reverse(), 'every deployment once, newest first')
})

t.test('bad queries are 400 VALIDATION_FAILED', async (t) => {
  for (const query of ['?limit=0', '?limit=1001', '?cursor=not%20base64', '?cursor=bm9wZQ', '?status=done', '?kind=x', '?color=red']) {
    const res = await list(query)
    t.equal(res.statusCode, 400, query)
    t.equal(res.json().code, 'VALIDATION_FAILED', query)
  }
  const anonymous = await service.app.inject({ url: '/v1/deployments' })
  t.equal(anonymous.statusCode, 401)
})

t.test('GraphQL: deployments(filter: {ticket})', async (t) => {
  const res = await gql(service, '{ deployments(filter: {ticket: "RITM-LIST-2"}) { totalCount edges { node { id ticket } } } }', {}, 'deployments:read', 'portal-a')
  t.same(res.body.errors, undefined)
  t.same(res.body.data!.deployments.edges, [], "portal-a's personal team has none: they are list-team's")
  const team = await service.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: service.auth('deployments:read', 'portal-user', TEAM),
    payload: { query: '{ deployments(filter: {ticket: "RITM-LIST-2"}) { totalCount edges { node { id ticket } } } }' },
  })
  t.same(team.json().data.deployments.edges.map((e: any) => e.node), [{ id: made[2]!.id, ticket: 'RITM-LIST-2' }])
})

t.test('a pool write records its ticket on the deployment it causes', async (t) => {
  const created = await service.app.inject({
    method: 'POST',
    url: '/v1/pools',
    headers: service.auth('deployments:write', 'portal-user', TEAM),
    payload: { name: 'ticket-pool', parent: 'Tmpl Capture 1.0', size: 1, startNumber: 700, ticket: 'RITM-POOL-1' },
  })
  t.equal(created.statusCode, 202)
  const listed = (await list('?ticket=RITM-POOL-1')).json().items
  t.equal(listed.length, 1)
  t.equal(listed[0].pool, 'ticket-pool')
  t.equal(listed[0].kind, 'deploy')
  t.same((await list('?pool=ticket-pool')).json().items.map((d: { id: string }) => d.id), [listed[0].id], 'found by pool too')
  const bad = await service.app.inject({ method: 'DELETE', url: '/v1/pools/ticket-pool?ticket=', headers: service.auth('deployments:write', 'portal-user', TEAM) })
  t.equal(bad.statusCode, 400, 'an empty ticket is refused')
})
