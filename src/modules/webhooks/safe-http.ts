/**
 * Sending to a caller's URL without letting it reach inside (OWASP API7, SSRF): https only (http only
 * to WEBHOOK_ALLOWED_HOSTS); the address checked is the one connected to, by a `lookup` of our own
 * given to the request (so a name that resolves to a public address when the subscription is made
 * and to a private one when it is sent, DNS rebinding, is still refused); no redirect is followed; 10 s
 * for the whole exchange; at most 64 KB of the answer read.
 */
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { LookupFunction } from 'node:net'
import { isForbiddenAddress } from '../../domain/webhooks.js'
import { WebhookUrlForbidden } from '../../errors.js'

export const SEND_TIMEOUT_MS = 10_000
export const MAX_RESPONSE_BYTES = 64 * 1024

/** The outcome of one attempt as a metrics label: `ok`, `http_<status>`, `timeout` or `connection`. */
export function outcomeLabel(outcome: SendOutcome): string {
  if (outcome.ok) return 'ok'
  if (outcome.statusCode) return `http_${outcome.statusCode}`
  return outcome.error?.startsWith('no answer within') ? 'timeout' : 'connection'
}

export interface SendOutcome {
  ok: boolean
  statusCode: number | null
  durationMs: number
  error: string | null
}

/** Hostname as URL gives it, without IPv6 brackets, lower case. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
}

function isAllowedHost(url: URL, allowedHosts: readonly string[]): boolean {
  return allowedHosts.includes(hostOf(url))
}

/** The URL as a subscription may hold it; throws 422 WEBHOOK_URL_FORBIDDEN (also when its host resolves to a forbidden address). */
export async function checkWebhookUrl(raw: string, allowedHosts: readonly string[]): Promise<string> {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new WebhookUrlForbidden({ url: raw }, 'it is not a URL')
  }
  const allowed = isAllowedHost(url, allowedHosts)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) {
    throw new WebhookUrlForbidden({ url: raw, reason: 'scheme' }, `it must use https (got ${url.protocol.replace(':', '')})`)
  }
  if (url.username || url.password) throw new WebhookUrlForbidden({ url: url.origin, reason: 'credentials' }, 'it may not carry a user name or password')
  if (allowed) return url.toString()
  const host = hostOf(url)
  let addresses: string[]
  if (net.isIP(host)) addresses = [host]
  else {
    try {
      addresses = (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address)
    } catch {
      throw new WebhookUrlForbidden({ url: raw, reason: 'unresolved' }, `its host "${host}" does not resolve`)
    }
  }
  const forbidden = addresses.filter(isForbiddenAddress)
  if (forbidden.length > 0) {
    throw new WebhookUrlForbidden(
      { url: raw, reason: 'address', addresses: forbidden },
      `its host "${host}" resolves to a loopback, private, link-local, multicast or metadata address (${forbidden.join(', ')})`,
    )
  }
  return url.toString()
}

/** dns.lookup, refusing forbidden addresses: what the socket connects to is what was checked. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return (callback as (e: Error) => void)(err)
    const list = addresses as dns.LookupAddress[]
    const bad = list.find((a) => isForbiddenAddress(a.address))
    if (bad || list.length === 0) {
      const refused = Object.assign(new Error(`${hostname} resolves to a forbidden address (${bad?.address ?? 'none'})`), { code: 'EFORBIDDENADDRESS' })
      return (callback as (e: Error) => void)(refused)
    }
    if (options.all) return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list)
    return (callback as (e: null, a: string, f: number) => void)(null, list[0]!.address, list[0]!.family)
  })
}

/** POSTs `body`; any answer but 2xx (a redirect included) is a failure. Never throws. */
export function postWebhook(
  raw: string,
  headers: Record<string, string>,
  body: string,
  allowedHosts: readonly string[],
  timeoutMs = SEND_TIMEOUT_MS,
): Promise<SendOutcome> {
  const started = Date.now()
  const done = (ok: boolean, statusCode: number | null, error: string | null): SendOutcome => ({ ok, statusCode, durationMs: Date.now() - started, error })
  return new Promise((resolve) => {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      return resolve(done(false, null, 'not a URL'))
    }
    const allowed = isAllowedHost(url, allowedHosts)
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) return resolve(done(false, null, 'the URL must use https'))
    const host = hostOf(url)
    // An address in the URL is connected to without a lookup: checked here instead.
    if (!allowed && net.isIP(host) && isForbiddenAddress(host)) return resolve(done(false, null, `forbidden address ${host}`))
    const client = url.protocol === 'https:' ? https : http
    let settled = false
    const finish = (outcome: SendOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'linked-clone-service-webhooks' },
        ...(allowed ? {} : { lookup: guardedLookup }),
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0
        let read = 0
        response.on('data', (chunk: Buffer) => {
          read += chunk.length
          // Enough of the answer: only its status matters.
          if (read >= MAX_RESPONSE_BYTES) response.destroy()
        })
        const end = () => {
          const ok = status >= 200 && status < 300
          finish(done(ok, status, ok ? null : status >= 300 && status < 400 ? `redirect (${status}) not followed` : `answered ${status}`))
        }
        response.on('end', end)
        response.on('close', end)
        response.on('error', end)
      },
    )
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    request.on('error', (err) => finish(done(false, null, err.message)))
    request.end(body)
  })
}
