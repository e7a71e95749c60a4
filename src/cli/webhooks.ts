/** `webhooks ls|show|create|set|rm|rotate-secret|test|deliveries|retry`: the team's webhook subscriptions. */
import type { Command } from 'commander'
import { collect, contextOf, integer, record, table, UsageError } from './context.js'

export function registerWebhookCommands(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook subscriptions: signed notifications when work ends (Standard Webhooks)')

  webhooks
    .command('ls')
    .description("the subscriptions of the caller's teams")
    .option('--limit <n>', 'at most this many', integer('--limit', 1))
    .action(async (options, command: Command) => {
      const ctx = contextOf(command)
      const list = await ctx.client.webhooks(options.limit)
      if (ctx.json) return ctx.printJson(list)
      ctx.out(
        table(
          ['id', 'url', 'events', 'enabled', 'failing since'],
          list.map((w) => [w.id, w.url, w.events.join(' '), w.enabled ? 'yes' : `no (${w.disabledReason ?? 'disabled'})`, w.failingSince]),
        ),
      )
    })

  webhooks
    .command('show')
    .description('one subscription')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const webhook = await ctx.client.webhook(id)
      if (ctx.json) return ctx.printJson(webhook)
      ctx.out(
        record([
          ['id', webhook.id],
          ['url', webhook.url],
          ['events', webhook.events.join(' ')],
          ['description', webhook.description ?? undefined],
          ['enabled', webhook.enabled],
          ['disabled because', webhook.disabledReason ?? undefined],
          ['failing since', webhook.failingSince ?? undefined],
          ['created', webhook.createdAt],
        ]),
      )
    })

  webhooks
    .command('create')
    .description('subscribe a URL to events; prints the signing secret, shown only this once')
    .argument('<url>')
    .requiredOption('-e, --event <type>', 'an event type, e.g. deployment.succeeded (repeat for several)', collect)
    .option('-d, --description <text>', 'what it is for')
    .action(async (url: string, options, command: Command) => {
      const ctx = contextOf(command)
      const created = await ctx.client.createWebhook({
        url,
        events: options.event,
        ...(options.description ? { description: options.description } : {}),
      } as Parameters<typeof ctx.client.createWebhook>[0])
      if (ctx.json) return ctx.printJson(created)
      ctx.out(record([['id', created.id], ['url', created.url], ['events', created.events.join(' ')], ['secret', created.secret]]))
      ctx.out('Keep the secret: it verifies the webhook-signature header and is not shown again (rotate-secret makes a new one).')
    })

  webhooks
    .command('set')
    .description('change a subscription: its URL, events, description, or enable/disable it')
    .argument('<id>')
    .option('--url <url>', 'a new URL')
    .option('-e, --event <type>', 'the new list of events (repeat)', collect)
    .option('-d, --description <text>', 'a new description')
    .option('--enable', 'send to it again (a disabled one)')
    .option('--disable', 'stop sending to it')
    .action(async (id: string, options, command: Command) => {
      if (options.enable && options.disable) throw new UsageError('INVALID_ARGUMENT', '--enable and --disable exclude each other')
      const body = {
        ...(options.url ? { url: options.url } : {}),
        ...(options.event ? { events: options.event } : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
        ...(options.enable ? { enabled: true } : options.disable ? { enabled: false } : {}),
      }
      if (Object.keys(body).length === 0) throw new UsageError('INVALID_ARGUMENT', 'nothing to change: give --url, --event, --description, --enable or --disable')
      const ctx = contextOf(command)
      const changed = await ctx.client.changeWebhook(id, body)
      if (ctx.json) return ctx.printJson(changed)
      ctx.out(record([['id', changed.id], ['url', changed.url], ['events', changed.events.join(' ')], ['enabled', changed.enabled]]))
    })

  webhooks
    .command('rm')
    .description('delete a subscription (its deliveries are kept)')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(command)
      await ctx.client.deleteWebhook(id)
      if (ctx.json) return ctx.printJson({ id, deleted: true })
      ctx.out(`deleted ${id}`)
    })

  webhooks
    .command('rotate-secret')
    .description('a new signing secret (printed once); the old one stops signing at once')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const rotated = await ctx.client.rotateWebhookSecret(id)
      if (ctx.json) return ctx.printJson(rotated)
      ctx.out(record(Object.entries(rotated)))
    })

  webhooks
    .command('test')
    .description('send a test event to the subscription now')
    .argument('<id>')
    .action(async (id: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const sent = await ctx.client.testWebhook(id)
      if (ctx.json) return ctx.printJson(sent)
      ctx.out(record(Object.entries(sent)))
    })

  webhooks
    .command('deliveries')
    .description("a subscription's deliveries, newest first, with their attempts")
    .argument('<id>')
    .option('--limit <n>', 'at most this many', integer('--limit', 1))
    .action(async (id: string, options, command: Command) => {
      const ctx = contextOf(command)
      const list = await ctx.client.webhookDeliveries(id, options.limit)
      if (ctx.json) return ctx.printJson(list)
      ctx.out(
        table(
          ['delivery', 'event', 'status', 'attempts', 'last status', 'last error', 'created'],
          list.map((d) => {
            const last = d.attempts.at(-1)
            return [d.id, d.eventType, d.status, d.attempts.length, last?.statusCode, last?.error, d.createdAt]
          }),
        ),
      )
    })

  webhooks
    .command('retry')
    .description('send a delivery again now (same webhook-id)')
    .argument('<id>')
    .argument('<delivery>')
    .action(async (id: string, delivery: string, _options, command: Command) => {
      const ctx = contextOf(command)
      const retried = await ctx.client.retryWebhookDelivery(id, delivery)
      if (ctx.json) return ctx.printJson(retried)
      ctx.out(record(Object.entries(retried)))
    })
}
