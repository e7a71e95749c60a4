/**
 * What every request must be before any route sees it: JSON bodies are objects (a `null` body is
 * refused, not taken as "no body"); no NUL character anywhere in the URL or the body (PostgreSQL
 * cannot store one, and no name, attribute or ticket needs one); text bodies are refused (415) rather
 * than read as strings that fail validation later.
 */
import type { FastifyInstance } from 'fastify'
import { ValidationFailed } from '../errors.js'

const NUL = '\u0000'

export function installRequestGuards(app: FastifyInstance): void {
  // The API speaks JSON only.
  app.removeContentTypeParser('text/plain')

  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (err, value) => {
      if (err) return done(err)
      if (value === null || typeof value !== 'object') {
        return done(new ValidationFailed({ field: 'body' }, 'the body must be a JSON object'))
      }
      const at = typeof body === 'string' && body.includes('u0000') ? pathOfNul(value, 'body') : undefined
      if (at !== undefined) {
        return done(new ValidationFailed({ issues: [{ path: at, message: 'contains a NUL character' }] }, `${at} contains a NUL character (\\u0000)`))
      }
      done(null, value)
    })
  })

  app.addHook('onRequest', async (request) => {
    if (/%00/i.test(request.url) || request.url.includes(NUL)) {
      throw new ValidationFailed({ field: 'url' }, 'the URL contains a NUL character (%00)')
    }
  })
}

/** Where in a parsed JSON value a string (or a key) holds NUL, as `body/a/0`; undefined if nowhere. */
export function pathOfNul(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes(NUL) ? path : undefined
  if (value === null || typeof value !== 'object') return undefined
  for (const [key, inner] of Object.entries(value)) {
    if (key.includes(NUL)) return path
    const found = pathOfNul(inner, `${path}/${key}`)
    if (found !== undefined) return found
  }
  return undefined
}
