/**
 * The production image as the Dockerfile describes it (Docker cannot run here, so this reads the file):
 * a Node.js LTS base pinned by digest and matching package.json's engines, compiled JavaScript run by
 * plain node under tini, and the documents and page the service serves.
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'

const dockerfile = await readFile(new URL('../../Dockerfile', import.meta.url), 'utf8')
const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string }
}

/** The default of an ARG, or undefined. */
function argDefault(name: string): string | undefined {
  return new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1]
}

t.test('every stage builds on one Node.js base, pinned by digest', async (t) => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])
  t.ok(froms.length >= 2, 'a build stage and a runtime stage')
  t.same([...new Set(froms)], ['${NODE_IMAGE}'], 'both stages use the NODE_IMAGE argument')
  const base = argDefault('NODE_IMAGE')
  t.match(base, /^node:\d+-[a-z]+-slim@sha256:[0-9a-f]{64}$/, 'a tag for people and a digest for the build')
})

t.test("the base's Node.js major satisfies package.json's engines and is an LTS line", async (t) => {
  const major = Number(/^node:(\d+)/.exec(argDefault('NODE_IMAGE') ?? '')?.[1])
  const minimum = Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1])
  t.ok(major >= minimum, `node ${major} >= engines ${pkg.engines.node}`)
  t.equal(major % 2, 0, 'even majors are the LTS lines')
})

t.test('the image runs compiled JavaScript under an init process, with what the service serves', async (t) => {
  t.match(dockerfile, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m, 'tini as PID 1 (embedded PostgreSQL has children)')
  t.match(dockerfile, /^CMD \["node", "dist\/server\.js"\]$/m, 'plain node on the tsc output')
  t.notMatch(dockerfile, /\btsx\b/, 'no TypeScript at runtime')
  t.match(dockerfile, /^RUN npm run build/m, 'a tsc build stage')
  t.match(dockerfile, /^COPY .*\bopenapi\.yaml\b/m, 'the OpenAPI document')
  t.match(dockerfile, /^COPY .*\bui \.\/ui$/m, 'the page at /ui')
  t.match(dockerfile, /^COPY .*\bmigrations \.\/migrations$/m, 'the migrations')
  t.match(dockerfile, /^USER (?!root)\w+$/m, 'not root')
})
