/**
 * The page's files at /ui: served without a token, each with a CSP allowing only this origin; a file
 * not there is the service's 404, another method its 405. The browser test (ui-browser.test.ts) uses them.
 */
import { readdir } from 'node:fs/promises'
import t from 'tap'
import { DEFAULT_UI_ROOT } from '../../../src/modules/ui/ui-plugin.js'
import { startTestService } from '../../helpers/service.js'

const service = await startTestService({ runWorkers: false })
t.teardown(() => service.stop())
const { app } = service

t.test('the page loads without a token, under a CSP of its own origin only', async (t) => {
  const bare = await app.inject({ method: 'GET', url: '/ui' })
  t.equal(bare.statusCode, 302)
  t.equal(bare.headers.location, '/ui/')
  for (const url of ['/ui/', '/ui/index.html']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /^text\/html/, url)
    t.match(res.body, /<script type="module" src="\/ui\/app.js"><\/script>/, url)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, /default-src 'self'/, url)
    t.match(csp, /script-src 'self'(;|$)/, url)
    t.match(csp, /frame-ancestors 'none'/, url)
    t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/, url)
    t.equal(res.headers['x-content-type-options'], 'nosniff', url)
  }
})

t.test('every file of ui/ is served with its type, and loads nothing from elsewhere', async (t) => {
  const files = (await readdir(DEFAULT_UI_ROOT)).filter((f) => /\.(js|css|html)$/.test(f))
  t.ok(files.includes('app.js') && files.includes('style.css'))
  const types: Record<string, RegExp> = { js: /^(text|application)\/javascript/, css: /^text\/css/, html: /^text\/html/ }
  for (const file of files) {
    const res = await app.inject({ method: 'GET', url: `/ui/${file}` })
    t.equal(res.statusCode, 200, file)
    t.match(res.headers['content-type'], types[file.split('.').pop()!]!, file)
    t.ok(res.headers['content-security-policy'], file)
    // No CDN, no other origin: every URL in the page's files is a path of this service.
    t.notMatch(res.body, /\b(src|href)=["']?(https?:)?\/\//i, file)
    t.notMatch(res.body, /import .* from ['"]https?:/, file)
  }
})

t.test('a file that is not there is a 404 of the service; other methods a 405', async (t) => {
  const missing = await app.inject({ method: 'GET', url: '/ui/nothing-here.js' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'NOT_FOUND')
  const escape = await app.inject({ method: 'GET', url: '/ui/..%2f..%2fpackage.json' })
  t.equal(escape.statusCode, 404)
  t.notMatch(escape.body, /linked-clone-service/)
  const post = await app.inject({ method: 'POST', url: '/ui/app.js', payload: {} })
  t.equal(post.statusCode, 405)
  t.equal(post.json().code, 'METHOD_NOT_ALLOWED')
})

t.test('the API still wants its token: the page gets nothing from it without one', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/v1/pools' })
  t.equal(res.statusCode, 401)
  t.notOk(res.headers['content-security-policy'], 'the CSP is the page\'s, not the API\'s')
})
