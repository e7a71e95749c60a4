/**
 * What a ServiceNow-style ticket integration does with the service, end to end:
 *   1. subscribes a receiver to deployment.succeeded / deployment.failed (keeps the whsec_ secret);
 *   2. opens a deployment for its ticket with an Idempotency-Key, and retries it as it would after a
 *      timeout: the retry is answered the first answer again (Idempotent-Replayed: true), nothing twice;
 *   3. waits for the signed webhook (no polling), verifies it with the `standardwebhooks` package;
 *   4. lists the ticket's deployments (GET /v1/deployments?ticket=) and prints the ticket's machines.
 *
 *   npx tsx examples/ticket-integration.ts                 # starts the demo lab (simulator, PostgreSQL, service)
 *   SERVICE_URL=http://127.0.0.1:3000 TOKEN=... npx tsx examples/ticket-integration.ts
 *     # against a running service started with WEBHOOK_ALLOWED_HOSTS=127.0.0.1 (the receiver is local)
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- an example reads JSON answers loosely */
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { startLab, type Lab } from '../scripts/lib/lab.js'

const TICKET = process.env.TICKET ?? `RITM${Math.floor(Math.random() * 9_000_000 + 1_000_000)}`
const PARENT = process.env.PARENT ?? 'Tmpl Capture 1.0'
const say = (line: string) => process.stdout.write(`${line}\n`)

interface Delivery {
  body: string
  headers: Record<string, string>
}

async function main(): Promise<void> {
  let lab: Lab | undefined
  let baseUrl = process.env.SERVICE_URL
  let token = process.env.TOKEN
  if (!baseUrl || !token) {
    say('starting the demo lab...')
    lab = await startLab({ env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SECONDS: '2' }, log: say })
    baseUrl = lab.baseUrl
    token = lab.token
  }
  const api = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(baseUrl + url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    })
    return { status: res.status, headers: res.headers, body: (await res.json()) as any }
  }

  // The integration's webhook receiver.
  const deliveries: Delivery[] = []
  let arrived: () => void = () => {}
  const receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      deliveries.push({ body, headers: req.headers as Record<string, string> })
      res.writeHead(204).end()
      arrived()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/servicenow/webhook`

  try {
    const subscription = await api('POST', '/v1/webhooks', {
      url: receiverUrl,
      events: ['deployment.succeeded', 'deployment.failed'],
      description: 'ticket integration example',
    })
    if (subscription.status !== 201) throw new Error(`subscribing: ${subscription.status} ${JSON.stringify(subscription.body)}`)
    const secret: string = subscription.body.secret
    say(`subscribed ${receiverUrl} (webhook ${subscription.body.id})`)

    const key = randomUUID()
    const request = { parent: PARENT, count: 3, startNumber: 500 + Math.floor(Math.random() * 400), ticket: TICKET }
    const first = await api('POST', '/v1/deployments', request, { 'idempotency-key': key })
    if (first.status !== 202) throw new Error(`deploying: ${first.status} ${JSON.stringify(first.body)}`)
    say(`${TICKET}: deployment ${first.body.id} accepted (request id ${first.headers.get('x-request-id')})`)
    // As after a timeout: the same request, the same key.
    const retry = await api('POST', '/v1/deployments', request, { 'idempotency-key': key })
    say(`retried with the same Idempotency-Key: ${retry.status}, replayed: ${retry.headers.get('idempotent-replayed')}, same deployment: ${retry.body.id === first.body.id}`)

    const deadline = Date.now() + 5 * 60_000
    let event: { type: string; data: Record<string, any> } | undefined
    while (!event) {
      for (const d of deliveries.splice(0)) {
        // Throws unless the signature, id and timestamp are right.
        const verified = new Webhook(secret).verify(d.body, d.headers) as { type: string; data: Record<string, any> }
        say(`webhook ${d.headers['webhook-id']} verified: ${verified.type}`)
        if (verified.data.deploymentId === first.body.id) event = verified
      }
      if (event) break
      if (Date.now() > deadline) throw new Error('no webhook within 5 minutes')
      await new Promise<void>((resolve) => {
        arrived = resolve
        setTimeout(resolve, 1000)
      })
    }
    say(`${event.type} for ${event.data.ticket}: ${event.data.counts.ready ?? 0} of ${event.data.count} ready`)

    const listed = await api('GET', `/v1/deployments?ticket=${encodeURIComponent(TICKET)}`)
    for (const deployment of listed.body.items) {
      const full = await api('GET', `/v1/deployments/${deployment.id}`)
      say(`${TICKET} · deployment ${deployment.id} · ${deployment.status}`)
      for (const clone of full.body.clones) say(`  ${clone.name}  ${clone.status}  ${clone.moref ?? ''}  host ${clone.reportedHost ?? clone.host ?? '-'}`)
    }
  } finally {
    receiver.close()
    await lab?.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
