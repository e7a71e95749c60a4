// Transport behaviour that neither the simulator nor the fault proxy can provoke (HTTP errors other
// than vCenter's, resets, timeouts, non-SOAP answers): a tiny local HTTP endpoint answers with canned
// SOAP. The session cookie and the re-login after NotAuthenticated run against the simulator and the
// fault proxy (session-live.test.ts); everything vCenter-like is in client.integration.test.ts.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import t from 'tap'
import type { Test } from 'tap'
import {
  isFault,
  methods,
  Session,
  SoapTransport,
  VimConnectionError,
  VimFault,
  VimHttpError,
} from '../../src/vim25/index.js'
import type { CallOptions, RequestBody, RoundTripper } from '../../src/vim25/index.js'

const PASSWORD = 'Sup3r<Secret>&"pw'
const COOKIE = '"52a7f0c2-secret-cookie-value"'

const envelope = (body: string) =>
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>' +
  body +
  '</soapenv:Body></soapenv:Envelope>'
const fault = (type: string, msg = '') =>
  envelope(
    `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${msg}</faultstring><detail><${type}Fault xmlns="urn:vim25" xsi:type="${type}"></${type}Fault></detail></soapenv:Fault>`,
  )
const result = (method: string, inner: string) => envelope(`<${method}Response xmlns="urn:vim25">${inner}</${method}Response>`)

const SERVICE_CONTENT =
  '<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>' +
  '<viewManager type="ViewManager">ViewManager</viewManager><about><name>VMware vCenter Server</name><fullName>stub</fullName><vendor>VMware, Inc.</vendor>' +
  '<version>7.0.3</version><build>1</build><osType>linux-x64</osType><productLineId>vpx</productLineId><apiType>VirtualCenter</apiType><apiVersion>7.0.3.0</apiVersion></about>' +
  '<sessionManager type="SessionManager">SessionManager</sessionManager><searchIndex type="SearchIndex">SearchIndex</searchIndex></returnval>'

interface Seen {
  method: string
  body: string
  headers: http.IncomingHttpHeaders
}

type Handler = (req: Seen, res: http.ServerResponse) => void

/** A local endpoint; `handle` decides each answer. Returns its URL and the requests it saw. */
async function stub(t: Test, handle: Handler) {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      const method = /<(\w+) xmlns="urn:vim25">/.exec(body)?.[1] ?? ''
      const s = { method, body, headers: req.headers }
      seen.push(s)
      handle(s, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/sdk`, seen }
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8', ...headers })
  res.end(body)
}

/** A vCenter-ish endpoint: sessions by cookie, `expire()` ends the current session. */
function sessionServer(extra?: (req: Seen, res: http.ServerResponse, authed: boolean) => boolean) {
  let valid = new Set<string>()
  let n = 0
  const handler: Handler = (req, res) => {
    const cookie = /vmware_soap_session=("[^"]*")/.exec(req.headers.cookie ?? '')?.[1]
    const authed = cookie !== undefined && valid.has(cookie)
    if (extra?.(req, res, authed)) return
    switch (req.method) {
      case 'RetrieveServiceContent':
        return send(res, 200, result(req.method, SERVICE_CONTENT))
      case 'Login': {
        if (!req.body.includes('<password>Sup3r&lt;Secret&gt;&amp;&quot;pw</password>')) return send(res, 500, fault('InvalidLogin'))
        const c = n++ === 0 ? COOKIE : `"cookie-${n}"`
        valid.add(c)
        return send(res, 200, result(req.method, '<returnval><key>k</key><userName>u</userName><fullName>U</fullName><loginTime>2024-01-01T00:00:00Z</loginTime><lastActiveTime>2024-01-01T00:00:00Z</lastActiveTime><locale>en</locale><messageLocale>en</messageLocale></returnval>'), {
          'Set-Cookie': `vmware_soap_session=${c}; Path=/; HttpOnly; Secure`,
        })
      }
      default:
        if (!authed) return send(res, 500, fault('NotAuthenticated', 'The session is not authenticated.'))
        if (req.method === 'CurrentTime') return send(res, 200, result(req.method, '<returnval>2024-06-01T12:00:00.5Z</returnval>'))
        return send(res, 200, result(req.method, ''))
    }
  }
  return { handler, expire: () => (valid = new Set()) }
}

async function connect(t: Test, url: string, opts: { timeoutMs?: number } = {}) {
  const transport = new SoapTransport({ url, timeoutMs: opts.timeoutMs })
  t.teardown(() => transport.close())
  const session = new Session(transport, { username: 'u', password: PASSWORD }, { retry: { baseDelayMs: 1, maxDelayMs: 5 } })
  await session.start()
  return { transport, session }
}


t.test('HTTP outcomes map to typed errors', async (t) => {
  const { url } = await stub(t, (req, res) => {
    if (req.body.includes('<name>fault</name>')) return send(res, 500, fault('DuplicateName', 'exists'))
    if (req.body.includes('<name>503</name>')) return send(res, 503, '<html>Service Unavailable</html>')
    if (req.body.includes('<name>html</name>')) return send(res, 200, '<html>login page</html>')
    if (req.body.includes('<name>reset</name>')) return void res.socket?.destroy()
    if (req.body.includes('<name>hang</name>')) return // never answers
    send(res, 200, result('DoesCustomizationSpecExist', '<returnval>true</returnval>'))
  })
  const transport = new SoapTransport({ url, timeoutMs: 5000 })
  t.teardown(() => transport.close())
  const call = (name: string, opts?: CallOptions) =>
    methods.DoesCustomizationSpecExist(transport, { _this: { type: 'CustomizationSpecManager', value: 'C' }, name }, opts)

  t.equal(await call('ok'), true)
  const f = await call('fault').catch((e: unknown) => e)
  t.ok(f instanceof VimFault && isFault(f, 'DuplicateName'), 'HTTP 500 with a SOAP fault')
  t.equal((f as VimFault).method, 'DoesCustomizationSpecExist')
  const h = await call('503').catch((e: unknown) => e)
  t.ok(h instanceof VimHttpError && h.status === 503, 'non-SOAP 503')
  const html = await call('html').catch((e: unknown) => e)
  t.ok(html instanceof VimHttpError && html.status === 200, 'a 200 that is not SOAP')
  const reset = await call('reset').catch((e: unknown) => e)
  t.ok(reset instanceof VimConnectionError && reset.kind === 'reset', `reset: ${(reset as Error).message}`)
  const slow = await call('hang', { timeoutMs: 200 }).catch((e: unknown) => e)
  t.ok(slow instanceof VimConnectionError && slow.kind === 'timeout', 'per-call timeout')
  const ac = new AbortController()
  setTimeout(() => ac.abort(), 50)
  const aborted = await call('hang', { signal: ac.signal }).catch((e: unknown) => e)
  t.ok(aborted instanceof VimConnectionError && aborted.kind === 'aborted', 'abort signal')

  const closed = new SoapTransport({ url: 'http://127.0.0.1:1/sdk', timeoutMs: 2000 })
  t.teardown(() => closed.close())
  const refused = await methods.CurrentTime(closed).catch((e: unknown) => e)
  t.ok(refused instanceof VimConnectionError && refused.kind === 'refused', 'connection refused')
  t.ok((refused as VimConnectionError).cause instanceof Error, 'with its cause')
})

t.test('errors never carry the cookie or the password', async (t) => {
  const srv = sessionServer((req, res) => {
    if (req.method === 'CurrentTime') {
      res.socket?.destroy()
      return true
    }
    return false
  })
  const { url } = await stub(t, srv.handler)
  const { session } = await connect(t, url)
  const err = await methods.CurrentTime(session).catch((e: unknown) => e)
  t.ok(err instanceof VimConnectionError)
  const shown = inspect(err, { depth: 10, showHidden: true }) + JSON.stringify(err)
  t.notMatch(shown, 'secret-cookie')
  t.notMatch(shown, 'Sup3r')
})

t.test('transport errors: idempotent reads are retried, mutating calls never', async (t) => {
  let failures = 0
  const srv = sessionServer((req, res) => {
    if ((req.method === 'CurrentTime' || req.method === 'PowerOnVM_Task' || req.method === 'setCustomValue') && failures > 0) {
      failures--
      send(res, 503, 'busy')
      return true
    }
    return false
  })
  const { url, seen } = await stub(t, srv.handler)
  const { session } = await connect(t, url)

  failures = 2
  t.ok(await methods.CurrentTime(session), 'a read survives two 503s')
  t.equal(seen.filter((s) => s.method === 'CurrentTime').length, 3)

  failures = 1
  const err = await methods
    .PowerOnVM_Task(session, { _this: { type: 'VirtualMachine', value: 'vm-1' } })
    .catch((e: unknown) => e)
  t.ok(err instanceof VimHttpError, 'a task call surfaces the error')
  t.equal(seen.filter((s) => s.method === 'PowerOnVM_Task').length, 1, 'and is not retried')

  failures = 1
  await t.rejects(methods.setCustomValue(session, { _this: { type: 'VirtualMachine', value: 'vm-1' }, key: 'k', value: 'v' }), VimHttpError)
  t.equal(seen.filter((s) => s.method === 'setCustomValue').length, 1)

  failures = 5
  await t.rejects(methods.CurrentTime(session), VimHttpError, 'gives up after the configured attempts')
  t.equal(seen.filter((s) => s.method === 'CurrentTime').length, 6, '3 more attempts')
})

t.test('WaitForUpdatesEx gets maxWaitSeconds plus a margin as its timeout', async (t) => {
  const opts: (CallOptions | undefined)[] = []
  const rt: RoundTripper = {
    async invoke(_method: string, _body: RequestBody, o?: CallOptions) {
      opts.push(o)
      return undefined
    },
  }
  const pc = { type: 'PropertyCollector', value: 'pc' }
  t.equal(await methods.WaitForUpdatesEx(rt, { _this: pc, version: '1', options: { maxWaitSeconds: 60 } }), undefined, 'no changes')
  t.equal(opts[0]?.timeoutMs, 90_000)
  await methods.WaitForUpdatesEx(rt, { _this: pc, version: '1', options: { maxWaitSeconds: 60 } }, { timeoutMs: 5 })
  t.equal(opts[1]?.timeoutMs, 5, 'an explicit timeout wins')
})
