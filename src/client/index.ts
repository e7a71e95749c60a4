/**
 * The service's typed client for Node scripts and the `linked-clones` command: openapi-fetch over the
 * types generated from openapi.yaml (api-types.ts, `npm run client:types`). Calls are typed by path,
 * not by operationId, so a regenerated document needs no change here. A refused call throws a
 * LinkedClonesError carrying the service's `code`, `message`, `details` and the HTTP status.
 *
 *   import { createLinkedClonesClient } from 'linked-clone-service/client'   // TypeScript: run with tsx
 *   const api = createLinkedClonesClient({ baseUrl: 'http://localhost:3000', token })
 *   const deployment = await api.deploy({ parent: 'Tmpl Capture 1.0', count: 5 })
 *   const done = await api.waitForDeployment(deployment.id!, (d) => console.log(d.progress?.done))
 */
import createClient from 'openapi-fetch'
import type { paths } from './api-types.js'

export type { components, paths } from './api-types.js'

/** A refusal of the service (`code` from its error catalogue), or a failure to reach it (`status` 0). */
export class LinkedClonesError extends Error {
  override readonly name = 'LinkedClonesError'
  constructor(
    readonly code: string,
    message: string,
    /** The HTTP status; 0 when no answer came (UNREACHABLE, TIMEOUT). */
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
  }
}

export interface LinkedClonesClientOptions {
  /** The service's address, e.g. http://localhost:3000 (no /v1). */
  baseUrl: string
  /** A bearer token (JWT) with the scopes the calls need. */
  token: string
  /** Time limit of one HTTP request (default 60 s). */
  requestTimeoutMs?: number
  fetch?: typeof globalThis.fetch
}

export interface WaitOptions<T> {
  /** Called with every representation read, the final one included. */
  onProgress?: (current: T) => void
  /** Give up (WAIT_TIMEOUT) after this long (default 30 minutes). */
  timeoutMs?: number
  /** Between two reads (default 1 s). */
  intervalMs?: number
}

/** A parent as GraphQL's `parents` query describes it (no REST route lists parents). */
export interface ParentSummary {
  name: string
  moref: string
  snapshot: { name: string; moref: string } | null
  customizationSpec: string | null
  customizationSpecExists: boolean
  ready: boolean
  problems: { code: string; message: string }[]
}

type Result<D> = { data?: D; error?: unknown; response: Response }
type Waitable = { status?: string }

const FINAL = new Set(['succeeded', 'failed'])
/** Answers worth reading again while waiting: the service or its database briefly unavailable. */
const TRANSIENT = (err: unknown) => err instanceof LinkedClonesError && (err.status === 0 || err.status === 503)

export function createLinkedClonesClient(options: LinkedClonesClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000
  const baseFetch = options.fetch ?? globalThis.fetch
  const authorization = `Bearer ${options.token}`
  // Every request gets its own time limit: a call never hangs on a silent server.
  const timedFetch = (input: Request) => baseFetch(input, { signal: AbortSignal.timeout(requestTimeoutMs) })
  const http = createClient<paths>({ baseUrl, headers: { authorization }, fetch: timedFetch })

  /** The answer's body on success; a LinkedClonesError otherwise. */
  async function unwrap<D>(call: Promise<Result<D>>): Promise<D> {
    return (await unwrapWithResponse(call)).data
  }

  async function unwrapWithResponse<D>(call: Promise<Result<D>>): Promise<{ data: D; response: Response }> {
    let result: Result<D>
    try {
      result = await call
    } catch (err) {
      throw unreachable(err)
    }
    if (!result.response.ok) throw refusal(result.response.status, result.error)
    return { data: result.data as D, response: result.response }
  }

  function unreachable(err: unknown): LinkedClonesError {
    const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      return new LinkedClonesError('TIMEOUT', `no answer from ${baseUrl} within ${requestTimeoutMs / 1000} s`, 0)
    }
    return new LinkedClonesError('UNREACHABLE', `cannot reach ${baseUrl}: ${cause}`, 0)
  }

  /** Follows a list's pages (the body's `nextCursor`, else a `Link: <...>; rel="next"` header) up to `max` items. */
  async function collect<Page, Item>(
    first: { data: Page; response: Response },
    items: (page: Page) => Item[] | undefined,
    max = Infinity,
  ): Promise<Item[]> {
    const all: Item[] = []
    let page = first
    const seen = new Set<string>()
    for (;;) {
      all.push(...(items(page.data) ?? []))
      const next = nextPageUrl(page.data, page.response)
      if (!next || all.length >= max || seen.has(next)) return all.slice(0, max)
      seen.add(next)
      page = await unwrapWithResponse<Page>(rawGet<Page>(next))
    }
  }

  async function rawGet<T>(url: string): Promise<Result<T>> {
    const response = await timedFetch(new Request(url, { headers: { authorization, accept: 'application/json' } }))
    const body = await response.json().catch(() => undefined)
    return response.ok ? { data: body as T, response } : { error: body, response }
  }

  function nextPageUrl(data: unknown, response: Response): string | undefined {
    const cursor = (data as { nextCursor?: unknown } | undefined)?.nextCursor
    if (typeof cursor === 'string' && cursor) {
      const url = new URL(response.url || baseUrl)
      url.searchParams.set('cursor', cursor)
      return url.toString()
    }
    const link = response.headers.get('link')?.match(/<([^>]+)>\s*;\s*rel="?next"?/)
    return link ? new URL(link[1]!, `${baseUrl}/`).toString() : undefined
  }

  /** Reads `read()` until its status is final, calling `onProgress` each time; WAIT_TIMEOUT past the deadline. */
  async function waitUntilFinal<T extends Waitable>(what: string, read: () => Promise<T>, wait: WaitOptions<T> = {}): Promise<T> {
    const deadline = Date.now() + (wait.timeoutMs ?? 30 * 60_000)
    const interval = wait.intervalMs ?? 1000
    for (;;) {
      let current: T | undefined
      try {
        current = await read()
      } catch (err) {
        if (!TRANSIENT(err) || Date.now() > deadline) throw err
      }
      if (current) {
        wait.onProgress?.(current)
        if (FINAL.has(current.status ?? '')) return current
      }
      if (Date.now() + interval > deadline) {
        throw new LinkedClonesError('WAIT_TIMEOUT', `${what} still ${current?.status ?? 'unknown'} after ${Math.round((wait.timeoutMs ?? 1_800_000) / 1000)} s`, 0)
      }
      await new Promise((resolve) => setTimeout(resolve, interval))
    }
  }

  const name = (value: string) => ({ path: { name: value } })

  const client = {
    /** The openapi-fetch client itself, for routes the helpers below do not cover. */
    http,
    baseUrl,

    // Deployments
    deploy: (body: DeployBody) => unwrap(http.POST('/v1/deployments', { body: body as JsonBody<paths['/v1/deployments']['post']> })),
    deployment: (id: string) => unwrap(http.GET('/v1/deployments/{id}', { params: { path: { id } } })),
    /** Polls GET /v1/deployments/{id} until it has succeeded or failed; answers the final deployment. */
    waitForDeployment(id: string, wait?: WaitOptions<Deployment> | ((d: Deployment) => void)) {
      const options = typeof wait === 'function' ? { onProgress: wait } : wait
      return waitUntilFinal(`deployment ${id}`, () => client.deployment(id), options)
    },

    // Clones
    /** Every clone matching the query, through all pages (at most `max`). */
    async clones(query: ClonesQuery = {}, max?: number) {
      const first = await unwrapWithResponse(http.GET('/v1/clones', { params: { query } }))
      return collect(first, (page) => page.clones, max)
    },
    clone: (cloneName: string) => unwrap(http.GET('/v1/clones/{name}', { params: name(cloneName) })),

    // Pools
    async pools(max?: number) {
      const first = await unwrapWithResponse(http.GET('/v1/pools'))
      return collect(first, (page) => page.pools, max)
    },
    pool: (poolName: string) => unwrap(http.GET('/v1/pools/{name}', { params: name(poolName) })),
    createPool: (body: CreatePoolBody) => unwrap(http.POST('/v1/pools', { body: body as JsonBody<paths['/v1/pools']['post']> })),
    /** PATCH: a new size (scale up or down) and/or expiry. */
    changePool: (poolName: string, body: ChangePoolBody) => unwrap(http.PATCH('/v1/pools/{name}', { params: name(poolName), body })),
    stripPool: (poolName: string) => unwrap(http.DELETE('/v1/pools/{name}', { params: name(poolName) })),
    refreshPool: (poolName: string, body: RefreshPoolBody = {}) => unwrap(http.POST('/v1/pools/{name}/refresh', { params: name(poolName), body })),
    recomposePool: (poolName: string, body: RecomposePoolBody = {}) =>
      unwrap(http.POST('/v1/pools/{name}/recompose', { params: name(poolName), body })),

    // Parents
    /** The VMs that can serve as parents, with their readiness (GraphQL `parents`, every page: REST has no such list). */
    async parents(): Promise<ParentSummary[]> {
      const query = `query($cursor: String) { parents(limit: 1000, cursor: $cursor) {
        nodes { name moref snapshot { name moref } customizationSpec customizationSpecExists ready problems { code message } } nextCursor } }`
      const all: ParentSummary[] = []
      let cursor: string | null = null
      do {
        let response: Response
        try {
          response = await timedFetch(
            new Request(`${baseUrl}/graphql`, {
              method: 'POST',
              headers: { authorization, 'content-type': 'application/json' },
              body: JSON.stringify({ query, variables: { cursor } }),
            }),
          )
        } catch (err) {
          throw unreachable(err)
        }
        const body = (await response.json().catch(() => undefined)) as
          | {
              data?: { parents?: { nodes: ParentSummary[]; nextCursor: string | null } }
              errors?: { message: string; extensions?: { code?: string; details?: Record<string, unknown> } }[]
            }
          | undefined
        const error = body?.errors?.[0]
        if (error) throw new LinkedClonesError(error.extensions?.code ?? 'GRAPHQL_ERROR', error.message, response.status, error.extensions?.details)
        if (!response.ok || !body?.data?.parents) throw refusal(response.status, body)
        all.push(...body.data.parents.nodes)
        cursor = body.data.parents.nextCursor
      } while (cursor !== null)
      return all
    },
    snapshots: (parentName: string) => unwrap(http.GET('/v1/parents/{name}/snapshots', { params: name(parentName) })),
    prepareParent: (parentName: string, body: PrepareParentBody = {}) =>
      unwrap(http.POST('/v1/parents/{name}/prepare', { params: name(parentName), body })),
    preparation: (parentName: string, id: string) =>
      unwrap(http.GET('/v1/parents/{name}/preparations/{id}', { params: { path: { name: parentName, id } } })),
    /** Polls a parent's preparation until it has succeeded or failed. */
    waitForPreparation(parentName: string, id: string, wait?: WaitOptions<Preparation>) {
      return waitUntilFinal(`preparation ${id}`, () => client.preparation(parentName, id), wait)
    },

    // Webhooks (Standard Webhooks subscriptions of the caller's team)
    async webhooks(max?: number) {
      const first = await unwrapWithResponse(http.GET('/v1/webhooks'))
      return collect(first, (page) => page.items, max)
    },
    webhook: (id: string) => unwrap(http.GET('/v1/webhooks/{id}', { params: { path: { id } } })),
    /** Answers the subscription with its signing secret: the only time the secret is shown. */
    createWebhook: (body: CreateWebhookBody) => unwrap(http.POST('/v1/webhooks', { body })),
    changeWebhook: (id: string, body: ChangeWebhookBody) => unwrap(http.PATCH('/v1/webhooks/{id}', { params: { path: { id } }, body })),
    deleteWebhook: (id: string) => unwrap(http.DELETE('/v1/webhooks/{id}', { params: { path: { id } } })),
    rotateWebhookSecret: (id: string) => unwrap(http.POST('/v1/webhooks/{id}/rotate-secret', { params: { path: { id } } })),
    testWebhook: (id: string) => unwrap(http.POST('/v1/webhooks/{id}/test', { params: { path: { id } } })),
    async webhookDeliveries(id: string, max?: number) {
      const first = await unwrapWithResponse(http.GET('/v1/webhooks/{id}/deliveries', { params: { path: { id } } }))
      return collect(first, (page) => page.items, max)
    },
    retryWebhookDelivery: (id: string, delivery: string) =>
      unwrap(http.POST('/v1/webhooks/{id}/deliveries/{delivery}/retry', { params: { path: { id, delivery } } })),

    // Reports
    spaceReport: () => unwrap(http.GET('/v1/reports/space')),
    /** The space chart as SVG text. */
    spaceChart: () => unwrap(http.GET('/v1/reports/space.svg', { parseAs: 'text' })) as Promise<string>,
  }
  return client
}

/** The service's error body `{code, message, details}` as a LinkedClonesError; any other body as HTTP_<status>. */
function refusal(status: number, body: unknown): LinkedClonesError {
  const error = body as { code?: unknown; message?: unknown; details?: unknown } | undefined
  if (error && typeof error.code === 'string') {
    const details = error.details && typeof error.details === 'object' ? (error.details as Record<string, unknown>) : undefined
    return new LinkedClonesError(error.code, typeof error.message === 'string' ? error.message : error.code, status, details)
  }
  return new LinkedClonesError(`HTTP_${status}`, `the service answered ${status}`, status)
}

export type LinkedClonesClient = ReturnType<typeof createLinkedClonesClient>

// Request and answer types, read from the paths (not from component names, which a regenerated document may change).
type JsonBody<T> = T extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never
type QueryOf<T> = T extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never

/** `startNumber` is optional in the newer contract; typed loosely so that both documents compile. */
export type DeployBody = Omit<JsonBody<paths['/v1/deployments']['post']>, 'startNumber'> & { startNumber?: number }
export type CreatePoolBody = Omit<JsonBody<paths['/v1/pools']['post']>, 'startNumber'> & { startNumber?: number }
export type ChangePoolBody = JsonBody<paths['/v1/pools/{name}']['patch']>
export type RefreshPoolBody = JsonBody<paths['/v1/pools/{name}/refresh']['post']>
export type RecomposePoolBody = JsonBody<paths['/v1/pools/{name}/recompose']['post']>
export type PrepareParentBody = JsonBody<paths['/v1/parents/{name}/prepare']['post']>
export type CreateWebhookBody = JsonBody<paths['/v1/webhooks']['post']>
export type ChangeWebhookBody = JsonBody<paths['/v1/webhooks/{id}']['patch']>
export type ClonesQuery = QueryOf<paths['/v1/clones']['get']>
type Ok<T> = T extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never
export type Deployment = Ok<paths['/v1/deployments/{id}']['get']>
export type Preparation = Ok<paths['/v1/parents/{name}/preparations/{id}']['get']>
