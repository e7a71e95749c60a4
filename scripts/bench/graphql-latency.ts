/**
 * Latency of listing a pool of 1,000 clones with their provenance and attributes: one GraphQL
 * `clones` query next to the same list over REST (GET /v1/clones?limit=1000), each under 50
 * concurrent clients for a bounded time with autocannon, on loopback. Figures, not assertions.
 *
 * benchGraphqlLatency() assumes the service at baseUrl already holds 1,000 clones. Run alone, this
 * file makes them itself (a lab with a simulator without delays, 2 x 500 clones) and prints the lines:
 *
 *   npx tsx scripts/bench/graphql-latency.ts [--duration 10]
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import autocannon from 'autocannon'

export interface GraphqlLatencyOptions {
  baseUrl: string
  /** A token with deployments:read. */
  token: string
  /** Per API (default 10 s). */
  durationSeconds?: number
  /** Concurrent clients (default 50). */
  connections?: number
}

export const POOL_SIZE = 1000

/** What REST's list answers for each clone, asked of GraphQL. */
export const CLONES_QUERY = /* GraphQL */ `
  query Pool {
    clones(limit: ${POOL_SIZE}) {
      nodes {
        name status moref instanceUuid host createdAt readyAt
        error { code message }
        parent { name moref }
        snapshot { name moref }
        deployment { id requester ticket }
        attributes { name value }
      }
    }
  }
`

interface Target {
  label: string
  method: 'GET' | 'POST'
  path: string
  body?: string
  /** Clones in one answer. */
  count(body: any): number
}

const TARGETS: Target[] = [
  {
    label: `GraphQL clones(limit: ${POOL_SIZE}) with parent, snapshot, deployment, attributes`,
    method: 'POST',
    path: '/graphql',
    body: JSON.stringify({ query: CLONES_QUERY }),
    count: (body) => body?.data?.clones?.nodes?.length ?? 0,
  },
  {
    label: `REST GET /v1/clones?limit=${POOL_SIZE} (the same list)`,
    method: 'GET',
    path: `/v1/clones?limit=${POOL_SIZE}`,
    count: (body) => body?.clones?.length ?? 0,
  },
]

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

export async function benchGraphqlLatency(options: GraphqlLatencyOptions): Promise<string[]> {
  const base = new URL(options.baseUrl)
  if (!LOOPBACK.has(base.hostname)) throw new Error(`the latency bench runs on loopback only, not ${base.hostname}`)
  const duration = options.durationSeconds ?? 10
  const connections = options.connections ?? 50
  const headers = { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' }

  const lines = [`List ${POOL_SIZE} clones, ${connections} concurrent clients, ${duration} s each (autocannon, loopback):`]
  for (const target of TARGETS) {
    const url = new URL(target.path, base).toString()
    // One answer first: the right size, and warm caches (mercurius's parsed query, JIT, pool).
    const probe = await fetch(url, { method: target.method, headers, body: target.body })
    const found = target.count(await probe.json())
    if (!probe.ok || found !== POOL_SIZE) {
      throw new Error(`${target.method} ${target.path} answered ${probe.status} with ${found} clones; the bench needs ${POOL_SIZE}`)
    }
    // A saturated server queues requests for seconds: a long timeout measures them rather than drop them.
    const result = await autocannon({ url, method: target.method, headers, body: target.body, connections, duration, timeout: 60 })
    const failures = result.errors + result.timeouts + result.non2xx
    lines.push(
      `  ${target.label}: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ` +
        `${result.requests.average.toFixed(1)} req/s (${result.requests.total} requests` +
        `${failures ? `, ${failures} failed` : ''})`,
    )
  }
  return lines
}

/** A lab of its own with 2 x 500 clones, then the bench; returns the printable lines. */
export async function benchGraphqlLatencyInLab(durationSeconds = 10, say: (line: string) => void = () => {}): Promise<string[]> {
  const { apiClient, startLab } = await import('../lib/lab.js')
  const lab = await startLab({ log: (line) => say(`  ${line}`) })
  try {
    const api = apiClient(lab)
    say(`deploying ${POOL_SIZE} linked clones (2 x 500, simulator without delays)...`)
    // Capture from 100: the lab already has a VM named Capture99.
    for (const [parent, startNumber] of [['Tmpl Capture 1.0', 100], ['Tmpl Packaging 1.0', 1]] as const) {
      const accepted = await api('POST', '/v1/deployments', { parent, count: 500, startNumber })
      if (accepted.status !== 202) throw new Error(`POST /v1/deployments: ${accepted.status} ${JSON.stringify(accepted.body)}`)
      for (;;) {
        const { body } = await api('GET', `/v1/deployments/${accepted.body.id}`)
        if (body.status === 'succeeded') break
        if (body.status === 'failed') throw new Error(`deployment ${accepted.body.id} failed: ${JSON.stringify(body.error)}`)
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    return await benchGraphqlLatency({ baseUrl: lab.baseUrl, token: lab.token, durationSeconds })
  } finally {
    await lab.stop()
  }
}

/** Alone: npx tsx scripts/bench/graphql-latency.ts [--duration 10] */
async function main() {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' } } })
  const say = (line: string) => process.stdout.write(line + '\n')
  for (const line of await benchGraphqlLatencyInLab(Number(values.duration), say)) say(line)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  })
}
