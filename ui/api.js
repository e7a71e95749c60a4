// The service's API as the page calls it: the pasted token (kept in sessionStorage, this tab only)
// on every call, a time limit on each, and the service's {code, message} errors as ApiError.

const TOKEN_KEY = 'linked-clones.token'
const TIME_LIMIT_MS = 20_000

export const session = {
  /** @returns {string | null} */
  get token() {
    return sessionStorage.getItem(TOKEN_KEY)
  },
  /** @param {string} token */
  start(token) {
    sessionStorage.setItem(TOKEN_KEY, token)
  },
  end() {
    sessionStorage.removeItem(TOKEN_KEY)
  },
  /**
   * What the token says of its holder, read (not checked: the service checks it) for display only.
   * @returns {{ sub: string, scopes: string[], exp?: number } | null}
   */
  claims() {
    const token = this.token
    const payload = token?.split('.')[1]
    if (!payload) return null
    try {
      const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='))
      const claims = JSON.parse(json)
      const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []
      return { sub: String(claims.sub ?? ''), scopes, exp: typeof claims.exp === 'number' ? claims.exp : undefined }
    } catch {
      return null
    }
  },
  /** @param {string} scope */
  may(scope) {
    const scopes = this.claims()?.scopes ?? []
    return scopes.includes(scope) || scopes.includes('admin')
  },
}

export class ApiError extends Error {
  /** @param {number} status @param {{ code?: string, message?: string, details?: unknown } | null} body */
  constructor(status, body) {
    super(body?.message ?? `The service answered ${status}`)
    this.status = status
    this.code = body?.code ?? `HTTP_${status}`
    this.details = body?.details
  }
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {string | null} [token] default the session's
 */
async function call(method, path, body, token = session.token) {
  /** @type {Record<string, string>} */
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: AbortSignal.timeout(TIME_LIMIT_MS),
    })
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError'
    throw new ApiError(0, {
      code: timedOut ? 'NO_ANSWER' : 'UNREACHABLE',
      message: timedOut ? `The service did not answer within ${TIME_LIMIT_MS / 1000} s` : 'The service cannot be reached',
    })
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('token-refused'))
  return res
}

/** A JSON call. @param {string} method @param {string} path @param {unknown} [body] @param {string | null} [token] */
export async function api(method, path, body, token) {
  const res = await call(method, path, body, token)
  const text = await res.text()
  const data = parseJson(text)
  if (!res.ok) throw new ApiError(res.status, data)
  return data
}

/**
 * A GraphQL query at /graphql; its first error as an ApiError.
 * @param {string} query
 * @param {Record<string, unknown>} [variables]
 */
export async function graphql(query, variables = {}) {
  const answer = await api('POST', '/graphql', { query, variables })
  const first = answer?.errors?.[0]
  if (first) throw new ApiError(200, { code: first.extensions?.code ?? 'GRAPHQL_ERROR', message: first.message })
  return answer.data
}

/** A text answer (the space chart's SVG). @param {string} path */
export async function apiText(path) {
  const res = await call('GET', path)
  const text = await res.text()
  if (!res.ok) throw new ApiError(res.status, parseJson(text))
  return text
}

/** A body as JSON, or null when it is none. @param {string} text */
function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null
  } catch {
    return null
  }
}

/** @param {string} part */
export const enc = (part) => encodeURIComponent(part)
