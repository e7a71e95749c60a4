/**
 * `linked-clones webhooks ...` against the lab and a local receiver: a subscription made, tested,
 * its delivery listed and verified with the secret the command printed once, changed, its secret
 * rotated, and deleted; each step checked against the service's own answers.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { runCli } from '../helpers/cli.js'
import { startTestService, type TestService } from '../helpers/service.js'

let service: TestService
let receiver: http.Server
let base: string
let env: Record<string, string>
const received: { headers: http.IncomingHttpHeaders; body: string }[] = []

t.before(async () => {
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  service = await startTestService({ env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_SECONDS: '1' } })
  await service.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = service.app.server.address() as AddressInfo
  env = { LINKED_CLONES_URL: `http://127.0.0.1:${port}`, LINKED_CLONES_TOKEN: service.token('deployments:read deployments:write') }
})
t.teardown(async () => {
  await service?.stop()
  receiver?.close()
})

const api = async (method: 'GET', url: string) => service.app.inject({ method, url, headers: service.auth('deployments:read') })

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

t.test('webhooks create, test, deliveries, set, rotate-secret, rm', async (t) => {
  const created = await runCli(['webhooks', 'create', `${base}/hook`, '-e', 'deployment.succeeded', '-e', 'deployment.failed', '-d', 'ticket bot', '--json'], env)
  t.equal(created.code, 0, created.stderr)
  const webhook = JSON.parse(created.stdout)
  t.match(webhook.secret, /^whsec_/, 'the secret is printed once')
  t.same(webhook.events, ['deployment.succeeded', 'deployment.failed'])
  t.equal((await api('GET', `/v1/webhooks/${webhook.id}`)).json().url, `${base}/hook`, 'the service recorded it')

  const listed = await runCli(['webhooks', 'ls'], env)
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, webhook.id)
  t.notMatch(listed.stdout, webhook.secret, 'a list never shows the secret')

  const tested = await runCli(['webhooks', 'test', webhook.id], env)
  t.equal(tested.code, 0, tested.stderr)
  const delivery = await until('the test delivery', () => received.at(-1))
  const verified = new Webhook(webhook.secret).verify(delivery.body, delivery.headers as Record<string, string>) as { type: string }
  t.ok(verified.type, 'the receiver verifies the delivery with the printed secret')

  const deliveries = await until('a finished delivery', async () => {
    const run = await runCli(['webhooks', 'deliveries', webhook.id, '--json'], env)
    if (run.code !== 0) throw new Error(run.stderr)
    const list = JSON.parse(run.stdout) as { id: string; status: string }[]
    return list.some((d) => d.status === 'succeeded') ? list : undefined
  })
  t.equal(`msg_${deliveries[0]!.id}`, delivery.headers['webhook-id'], 'the delivery listed is the one received (its webhook-id)')

  const table = await runCli(['webhooks', 'deliveries', webhook.id], env)
  t.match(table.stdout, /succeeded/)

  const disabled = await runCli(['webhooks', 'set', webhook.id, '--disable', '--json'], env)
  t.equal(disabled.code, 0, disabled.stderr)
  t.equal((await api('GET', `/v1/webhooks/${webhook.id}`)).json().enabled, false, 'the service has it disabled')

  const nothing = await runCli(['webhooks', 'set', webhook.id], env)
  t.equal(nothing.code, 2, 'nothing to change is a usage error')
  t.match(nothing.stderr, 'INVALID_ARGUMENT')

  const rotated = await runCli(['webhooks', 'rotate-secret', webhook.id, '--json'], env)
  t.equal(rotated.code, 0, rotated.stderr)
  const { secret } = JSON.parse(rotated.stdout)
  t.match(secret, /^whsec_/)
  t.not(secret, webhook.secret, 'a new secret')

  const removed = await runCli(['webhooks', 'rm', webhook.id], env)
  t.equal(removed.code, 0, removed.stderr)
  t.equal((await api('GET', `/v1/webhooks/${webhook.id}`)).statusCode, 404, 'deleted')

  const missing = await runCli(['webhooks', 'show', webhook.id], env)
  t.equal(missing.code, 1)
  t.match(missing.stderr, 'WEBHOOK_NOT_FOUND')
})
