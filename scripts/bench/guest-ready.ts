/**
 * Time to powered-on and to guest-ready of 3 x N clones, on a simulated vCenter whose guests take
 * `guestMs` (+/- 20%) to customize after power-on. Guests customize in parallel and hold no operation
 * slot, so guest-ready should come within (the powered-on time + the guest delay) x 1.15.
 */
import { apiClient, startLab } from '../lib/lab.js'

const PARENTS = ['Tmpl Capture 1.0', 'Tmpl Packaging 1.0', 'Tmpl Verification 1.0']
const POWERED_ON = new Set(['guest_customizing', 'setting_attributes', 'ready'])

export interface GuestReadyResult {
  clones: number
  guestSeconds: number
  poweredOnSeconds: number
  guestReadySeconds: number
  /** guestReady / (poweredOn + guest): goal <= 1.15. */
  ratio: number
}

export async function benchGuestReady(
  size: number,
  guestMs: number,
  delays: Record<string, number>,
  log: (line: string) => void,
): Promise<GuestReadyResult> {
  const lab = await startLab({ delays, guestMs, log })
  try {
    const api = apiClient(lab)
    const started = performance.now()
    const ids = await Promise.all(
      PARENTS.map(async (parent) => {
        const res = await api('POST', '/v1/deployments', { parent, count: size, startNumber: 1 })
        if (res.status !== 202) throw new Error(`${parent}: ${res.status} ${JSON.stringify(res.body)}`)
        return res.body.id as string
      }),
    )
    let poweredOnSeconds: number | undefined
    for (;;) {
      const states = await Promise.all(ids.map((id) => api('GET', `/v1/deployments/${id}`).then((r) => r.body)))
      const clones = states.flatMap((d) => d.clones as { status: string }[])
      const now = (performance.now() - started) / 1000
      if (poweredOnSeconds === undefined && clones.every((c) => POWERED_ON.has(c.status))) poweredOnSeconds = now
      if (states.every((d) => d.status === 'succeeded' || d.status === 'failed')) {
        const failed = states.filter((d) => d.status === 'failed')
        if (failed.length) throw new Error(`deployments failed: ${JSON.stringify(failed.map((d) => d.error))}`)
        poweredOnSeconds ??= now
        const guestSeconds = guestMs / 1000
        return { clones: clones.length, guestSeconds, poweredOnSeconds, guestReadySeconds: now, ratio: now / (poweredOnSeconds + guestSeconds) }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await lab.stop()
  }
}
