// The session layer against the real parts: the lab simulator, reached through the fault proxy that
// shows each call's headers. The session cookie vCenter sets is sent with every call and never shown;
// a session vCenter really ends (TerminateSession) is logged in again once for concurrent callers,
// each call retried once, a mutating call too (NotAuthenticated means it never ran); and a
// NotAuthenticated answer injected on the way is handled the same.
import type { IncomingHttpHeaders } from 'node:http'
import { inspect } from 'node:util'
import t from 'tap'
import { startSimulator } from '../../sim/launcher.js'
import { decodeCustomFieldValues, VimClient, type MoRef } from '../../src/vim25/index.js'
import { FaultProxy } from '../helpers/fault-proxy.js'

const sim = await startSimulator()
const proxy = new FaultProxy(sim.url)
const url = await proxy.start()
const client = await VimClient.connect({ url, username: sim.username, password: sim.password, insecure: true })
// vCenter's side: ends the client's session for real.
const admin = await VimClient.connect({ url: sim.url, username: sim.username, password: sim.password, insecure: true })
t.teardown(async () => {
  await client.close()
  await admin.close()
  await proxy.stop()
  await sim.stop()
})

/** The calls the proxy sees while `fn` runs: method and headers, and the cookies vCenter sets. */
async function observe<T>(fn: () => Promise<T>): Promise<{ value: T; calls: { method: string; cookie?: string; soapaction?: string }[]; set: string[] }> {
  const calls: { method: string; cookie?: string; soapaction?: string }[] = []
  const set: string[] = []
  // SOAP calls only (the proxy names any other request by its path, e.g. /sdk/vimServiceVersions.xml).
  const onRequest = (method: string, headers: IncomingHttpHeaders) => {
    if (!method.startsWith('/')) calls.push({ method, cookie: headers.cookie, soapaction: headers.soapaction as string | undefined })
  }
  const onResponse = (_method: string, headers: IncomingHttpHeaders) => set.push(...(headers['set-cookie'] ?? []))
  proxy.on('request', onRequest)
  proxy.on('response', onResponse)
  try {
    return { value: await fn(), calls, set }
  } finally {
    proxy.off('request', onRequest)
    proxy.off('response', onResponse)
  }
}

const sessionCookie = (header: string) => /vmware_soap_session=("?[^";]*"?)/.exec(header)?.[1]

/** Ends the client's session in vCenter, as an idle timeout or an administrator would. */
async function endSession(): Promise<void> {
  await admin.rt.invoke('TerminateSession', { _this: admin.serviceContent.sessionManager, sessionId: [client.session.userSession!.key] })
}

t.test('the session cookie vCenter sets is sent with every call, and never shown', async (t) => {
  const other = await observe(async () => {
    const c = await VimClient.connect({ url, username: sim.username, password: sim.password, insecure: true })
    await c.currentTime()
    return c
  })
  const c = other.value
  t.teardown(() => c.close())
  const cookies = other.set.map(sessionCookie).filter(Boolean)
  t.equal(cookies.length, 1, 'vCenter set one session cookie, at Login')
  const after = other.calls.slice(other.calls.findIndex((x) => x.method === 'Login') + 1)
  t.ok(after.some((x) => x.method === 'CurrentTime'))
  for (const call of after) t.equal(sessionCookie(call.cookie ?? ''), cookies[0], `${call.method} carries the session cookie`)
  for (const call of other.calls) t.match(call.soapaction, /^"urn:vim25\/\d/, `${call.method}: a SOAPAction naming the API version`)
  const counted = c.transport.callsByMethod()
  t.same(countBy(other.calls.map((x) => x.method)), Object.fromEntries(Object.entries(counted).filter(([m]) => !m.startsWith('/'))), 'the client counts the calls it sent')

  // The transport holds the cookie and shows it nowhere. (The simulator's session key is its cookie
  // value, unlike vCenter's, so the session's own record is checked for the password only.)
  t.notMatch(inspect(c.transport, { depth: 5 }), cookies[0]!.replace(/"/g, ''), 'no cookie')
  for (const shown of [inspect(c.transport, { depth: 5 }), inspect(c.session, { depth: 5 }), JSON.stringify(c.session.userSession)]) {
    t.notMatch(shown, sim.password, 'no password')
  }
})

function countBy(items: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const item of items) out[item] = (out[item] ?? 0) + 1
  return out
}

t.test('a session vCenter ended: one shared re-login for five callers, each call retried once, with the new cookie', async (t) => {
  const logins = client.session.loginCount
  await endSession()
  const seen = await observe(() => Promise.all(Array.from({ length: 5 }, () => client.currentTime())))
  t.equal(seen.value.length, 5)
  t.equal(client.session.loginCount, logins + 1, 'one re-login')
  t.equal(seen.calls.filter((x) => x.method === 'Login').length, 1)
  t.equal(seen.calls.filter((x) => x.method === 'CurrentTime').length, 10, 'each call: the refused try and one retry')
  const fresh = seen.set.map(sessionCookie).find(Boolean)
  t.ok(fresh, 'vCenter set a new cookie')
  const withFresh = seen.calls.filter((x) => x.method === 'CurrentTime' && sessionCookie(x.cookie ?? '') === fresh)
  t.equal(withFresh.length, 5, 'the five retries carry the new cookie')
})

t.test('a mutating call refused as not authenticated is sent again after the re-login: it never ran', async (t) => {
  const [vm] = (await client.property.listByType(client.serviceContent.rootFolder, 'VirtualMachine', ['name'])).filter((o) => o.props.name === 'Tmpl Kiosk 1.0')
  const [field] = await client.customFieldDefs()
  t.ok(field, 'the lab has custom fields')
  await endSession()
  const seen = await observe(() => client.rt.invoke('setCustomValue', { _this: vm!.obj as MoRef, key: field!.name, value: 'after re-login' }))
  t.equal(seen.calls.filter((x) => x.method === 'setCustomValue').length, 2, 'refused once, then sent again')
  const props = await admin.property.retrieveOne(vm!.obj, ['customValue'])
  t.ok(decodeCustomFieldValues(props.customValue).some((v) => v.value === 'after re-login'), 'vCenter holds the value')
})

t.test('a NotAuthenticated answer on the way (the fault proxy) is handled the same', async (t) => {
  const logins = client.session.loginCount
  const injected = proxy.counts.notAuthenticated
  proxy.plan('CurrentTime', 'notAuthenticated')
  const seen = await observe(() => client.currentTime())
  t.ok(seen.value instanceof Date)
  t.equal(proxy.counts.notAuthenticated, injected + 1)
  t.equal(client.session.loginCount, logins + 1)
  t.same(seen.calls.map((x) => x.method), ['CurrentTime', 'Login', 'CurrentTime'])
})
