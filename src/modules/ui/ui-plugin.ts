/**
 * The page for people: the static files under ui/ (plain ES modules, a stylesheet, no build step)
 * served at /ui. The files themselves need no token: the page asks for one and sends it with each
 * API call. Everything the page loads comes from this origin; the CSP says so, and refuses inline
 * scripts, styles, frames and plugins.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync, FastifySchema } from 'fastify'

const here = path.dirname(fileURLToPath(import.meta.url))
/**
 * ui/ at the top of the project: three folders up from src/modules/ui/, or four from a compiled copy
 * (dist/src/modules/ui/) when ui/ sits beside dist/ rather than in it.
 */
export const DEFAULT_UI_ROOT =
  [path.resolve(here, '../../../ui'), path.resolve(here, '../../../../ui')].find((dir) => existsSync(path.join(dir, 'index.html'))) ??
  path.resolve(here, '../../../ui')

export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export interface UiPluginOptions {
  /** The folder of the page's files; default ui/ at the top of the project. */
  root?: string
}

const uiPlugin: FastifyPluginAsync<UiPluginOptions> = async (app, opts) => {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', UI_CONTENT_SECURITY_POLICY)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    return payload
  })
  await app.register(fastifyStatic, {
    root: opts.root ?? DEFAULT_UI_ROOT,
    prefix: '/ui/',
    // One route per file (found at start-up): /ui/ answers index.html, anything else under
    // /ui/ is the service's own 404, and other methods its 405.
    wildcard: false,
    decorateReply: false,
    // A new release's files are fetched again, not taken from a stale cache.
    cacheControl: false,
    setHeaders: (reply) => void reply.header('cache-control', 'no-cache'),
    dotfiles: 'deny',
  })
  // The page's address as people type it; its files are found from /ui/. Not part of the API's
  // contract (hidden from the OpenAPI document, as @fastify/static's routes are).
  const hidden = { hide: true } as FastifySchema
  app.get('/ui', { schema: hidden }, async (_request, reply) => reply.redirect('/ui/'))
}

export default uiPlugin
