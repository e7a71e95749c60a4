/**
 * The typed client's own rules, on a small HTTP server of the test's: pages followed by `nextCursor` or
 * by a `Link: rel="next"` header (the service's lists answer those once paginated; the lab-backed tests
 * of the command cover the rest), errors as LinkedClonesError, and time limits on requests and waits.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { createLinkedClonesClient, LinkedClonesError } from '../../src/client/index.js'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

async function serve(t: Test, handler: Handler): Promise<string> {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const names = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ name: `Capture${String(from + i).padStart(2, '0')}` }))

t.test('clones(): follows nextCursor through every page, keeping the query and the token', async (t) => {
  const seen: string[] = []
  const url = await serve(t, (req, res) => {
    seen.push(`${req.url} ${req.headers.authorization}`)
    const cursor = new URL(req.url!, 'http://x').searchParams.get('cursor')
    if (!cursor) return json(res, 200, { clones: names(1, 2), nextCursor: 'p2' })
    if (cursor === 'p2') return json(res, 200, { clones: names(3, 4), nextCursor: 'p3' })
    return json(res, 200, { clones: names(5, 5), nextCursor: null })
  })
  const api = createLinkedClonesClient({ baseUrl: url, token: 'tok' })
  const clones = await api.clones({ prefix: 'Capture' })
  t.same(clones.map((c) => c.name), ['Capture01', 'Capture02', 'Capture03', 'Capture04', 'Capture05'])
  t.same(seen, ['/v1/clones?prefix=Capture Bearer tok', '/v1/clones?prefix=Capture&cursor=p2 Bearer tok', '/v1/clones?prefix=Capture&cursor=p3 Bearer tok'])

  seen.length = 0
  t.same((await api.clones({ prefix: 'Capture' }, 3)).map((c) => c.name), ['Capture01', 'Capture02', 'Capture03'], 'at most `max`')
  t.equal(seen.length, 2, 'no page read past `max`')
})

t.test('pools(): follows a Link rel="next" header when the body has no cursor', async (t) => {
  const url = await serve(t, (req, res) => {
    if (req.url === '/v1/pools') return json(res, 200, { pools: [{ name: 'a' }] }, { link: '</v1/pools?cursor=xyz>; rel="next"' })
    if (req.url === '/v1/pools?cursor=xyz') return json(res, 200, { pools: [{ name: 'b' }] })
    json(res, 404, { code: 'NOT_FOUND', message: req.url })
  })
  const pools = await createLinkedClonesClient({ baseUrl: url, token: 't' }).pools()
  t.same(pools.map((p) => p.name), ['a', 'b'])
})

t.test('a refusal is a LinkedClonesError with the service\'s code, message, details and status', async (t) => {
  const url = await serve(t, (req, res) => {
    if (req.url?.startsWith('/v1/pools/')) return json(res, 409, { code: 'POOL_BUSY', message: 'busy', details: { pool: 'a' } })
    res.writeHead(502, { 'content-type': 'text/html' })
    res.end('<html>bad gateway</html>')
  })
  const api = createLinkedClonesClient({ baseUrl: url, token: 't' })
  const busy = await api.stripPool('a').catch((err) => err)
  t.ok(busy instanceof LinkedClonesError)
  t.match(busy, { code: 'POOL_BUSY', message: 'busy', status: 409, details: { pool: 'a' } })
  const proxy = await api.clone('x').catch((err) => err)
  t.match(proxy, { code: 'HTTP_502', status: 502 })
})

t.test('time limits: a silent server is TIMEOUT, a deployment that never ends is WAIT_TIMEOUT', async (t) => {
  let reads = 0
  const url = await serve(t, (req, res) => {
    if (req.url === '/v1/clones') return // never answers
    reads += 1
    json(res, 200, { id: 'd', status: 'running', progress: { total: 1, done: 0 } })
  })
  const api = createLinkedClonesClient({ baseUrl: url, token: 't', requestTimeoutMs: 300 })
  t.match(await api.clones().catch((err) => err), { code: 'TIMEOUT', status: 0 })
  const progress: string[] = []
  const err = await api.waitForDeployment('d', { timeoutMs: 400, intervalMs: 100, onProgress: (d) => progress.push(d.status!) }).catch((e) => e)
  t.match(err, { code: 'WAIT_TIMEOUT' })
  t.ok(reads >= 2 && progress.length === reads, 'read until the deadline, each read reported')
})

t.test('an unreachable service is UNREACHABLE, status 0', async (t) => {
  const api = createLinkedClonesClient({ baseUrl: 'http://127.0.0.1:1', token: 't' })
  t.match(await api.deployment('x').catch((err) => err), { code: 'UNREACHABLE', status: 0 })
})
