/**
 * A GraphQL WebSocket lives no longer than its token: at the token's `exp` the socket is closed with
 * 4401 (graphql-ws's code for unauthorized), and a subscription started after it is refused. The
 * socket comes from the subscription context (mercurius's `subscription.context(socket)`), the expiry
 * from the principal of connection_init; the timer is armed at the first subscription (before it,
 * a socket can receive nothing) and cleared when the socket closes.
 */
import { Unauthorized } from '../errors.js'
import type { Principal } from '../http/auth-plugin.js'

/** What the plugin needs of mercurius's WebSocket (a `ws` WebSocket). */
export interface ExpiringSocket {
  close(code?: number, reason?: string): void
  once(event: 'close', listener: () => void): unknown
  readyState: number
}

export const TOKEN_EXPIRED_CLOSE_CODE = 4401
// setTimeout holds at most 2^31-1 ms (about 24.8 days); a longer wait is re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1
const timers = new WeakMap<ExpiringSocket, NodeJS.Timeout>()

/** The subscription context of one socket. */
export function socketContext(socket: ExpiringSocket): { wsSocket: ExpiringSocket } {
  return { wsSocket: socket }
}

/** preSubscriptionExecution: refuses a subscription on an expired token, else arms the socket's timer once. */
export function closeAtTokenExpiry(context: { wsSocket?: ExpiringSocket; principal?: Principal }, now = Date.now()): void {
  const socket = context.wsSocket
  const expiresAt = context.principal?.expiresAt
  if (!socket || expiresAt === undefined) return
  if (expiresAt <= now) {
    closeExpired(socket)
    throw new Unauthorized(undefined, 'the token has expired')
  }
  if (timers.has(socket)) return
  arm(socket, expiresAt)
  socket.once('close', () => {
    clearTimeout(timers.get(socket))
    timers.delete(socket)
  })
}

function arm(socket: ExpiringSocket, expiresAt: number): void {
  const timer = setTimeout(() => {
    if (Date.now() < expiresAt) arm(socket, expiresAt)
    else closeExpired(socket)
  }, Math.min(Math.max(expiresAt - Date.now(), 0), MAX_TIMER_MS))
  timer.unref()
  timers.set(socket, timer)
}

function closeExpired(socket: ExpiringSocket): void {
  // 1: OPEN (ws's readyState); a closing or closed socket needs nothing more.
  if (socket.readyState === 1) socket.close(TOKEN_EXPIRED_CLOSE_CODE, 'token expired')
}
