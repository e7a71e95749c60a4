/**
 * Request ids a caller can correlate: `X-Request-Id` is taken from the caller when it is 1-128
 * characters of `[A-Za-z0-9._:-]` (so that a log line cannot be forged through it), else a UUID is
 * made. The id is fastify's `request.id`: on every log line of the request (pino's `reqId`), echoed
 * on every response, and in every error body (error-handling.ts).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'

export const REQUEST_ID_HEADER = 'x-request-id'
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && VALID_REQUEST_ID.test(value)
}

/** Fastify's `genReqId`: the caller's id when valid, else a fresh UUID. */
export function genReqId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER]
  return isValidRequestId(given) ? given : randomUUID()
}

/** Every answer says which request it answers, errors and 404s included. */
export function installRequestIdHeader(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
}
