/** The vCenter gateway: one session shared by the API's checks and the workers. */
import fp from 'fastify-plugin'
import type { VcenterConfig } from '../config/config.js'
import type { VcenterObserver } from './connection.js'
import type { VcenterGateway } from './gateway.js'
import { VsphereGateway } from './vsphere-gateway.js'

declare module 'fastify' {
  interface FastifyInstance {
    vcenter: VcenterGateway
  }
}

export default fp(
  async function vcenterPlugin(app, opts: { vcenter: VcenterConfig; observer?: VcenterObserver }) {
    const gateway = new VsphereGateway(opts.vcenter, app.log.child({ component: 'vcenter' }), opts.observer)
    app.decorate('vcenter', gateway)
    // Log in at start rather than on the first request; an unreachable vCenter is not fatal here
    // (/health/ready says so, and the session is made on first use once it answers).
    app.addHook('onReady', async () => {
      await gateway.ping()
    })
    app.addHook('onClose', () => gateway.close())
  },
  { name: 'vcenter' },
)
