/**
 * The one vim25 session per process that all of the gateway's parts share, with vim25 errors translated
 * at this boundary (a fault is TaskFailed, a transport problem VcenterUnreachable); ping, reachability
 * and following a task recorded earlier.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { VcenterConfig } from '../config/config.js'
import {
  TaskFailedError,
  TaskVanishedError,
  TaskWatchTimeoutError,
  TaskWatcherClosedError,
  VimClient,
  VimConnectionError,
  VimFault,
  VimHttpError,
  type CallObserver,
  type MoRef,
  type TaskFinished,
} from '../vim25/index.js'
import { TaskFailed, VcenterUnreachable, type ConnectionGateway, type TaskOutcome } from './gateway.js'

export const vm = (value: string): MoRef => ({ type: 'VirtualMachine', value })
const PING_TIMEOUT_MS = 5_000

/**
 * What the process's session reports as it works (metrics): every SOAP call, every task seen to finish,
 * and every guest customization seen to end (no vCenter task: its events, started to succeeded or failed).
 */
export interface VcenterObserver {
  onCall?: CallObserver
  onTaskFinished?: (task: TaskFinished) => void
  onGuestCustomizationEnded?: (guest: { outcome: 'succeeded' | 'failed' | 'timeout'; durationMs: number }) => void
}

export class VsphereConnection implements ConnectionGateway {
  private client?: Promise<VimClient>

  constructor(
    private readonly config: VcenterConfig,
    private readonly log: FastifyBaseLogger,
    private readonly observer: VcenterObserver = {},
  ) {}

  async followTask(taskMoref: string): Promise<TaskOutcome> {
    try {
      const info = await this.use((client) => client.tasks.watch({ type: 'Task', value: taskMoref }))
      return { state: 'success', result: (info.result as MoRef | undefined)?.value }
    } catch (err) {
      if (err instanceof TaskFailed) return { state: 'error', faultType: err.faultType, message: err.message }
      if (err instanceof VcenterUnreachable && err.cause instanceof TaskVanishedError) return { state: 'unknown' }
      throw err
    }
  }

  async waitUntilReachable(signal?: AbortSignal): Promise<void> {
    for (let delay = 1_000; !signal?.aborted; delay = Math.min(delay * 2, 15_000)) {
      if (await this.ping()) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay)
        signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
    }
  }

  async ping(): Promise<boolean> {
    try {
      const client = await this.connection()
      await client.currentTime({ timeoutMs: PING_TIMEOUT_MS })
      return true
    } catch {
      return false
    }
  }

  async close(): Promise<void> {
    const client = this.client
    this.client = undefined
    if (client) await client.then((c) => c.close()).catch(() => {})
  }

  /** SOAP calls this process has sent (for benchmarks and logs). */
  async callCount(): Promise<number> {
    return this.client ? (await this.client).callCount : 0
  }

  /** Runs work on the session's client, translating vim25 errors into the gateway's. */
  /** Tells the observer a guest customization ended, and how long it took in the guest. */
  guestCustomizationEnded(outcome: 'succeeded' | 'failed' | 'timeout', durationMs: number): void {
    this.observer.onGuestCustomizationEnded?.({ outcome, durationMs })
  }

  async use<T>(work: (client: VimClient) => Promise<T>): Promise<T> {
    try {
      return await work(await this.connection())
    } catch (err) {
      throw translate(err)
    }
  }

  /** One session per process, made on first use and made again after a failed connect. */
  private connection(): Promise<VimClient> {
    if (!this.client) {
      const { url, username, password, insecure } = this.config
      this.client = VimClient.connect({
        url,
        username,
        password,
        insecure,
        logger: this.log,
        // Long-poll again as soon as an answer arrives (as govmomi does): vCenter itself batches
        // changes, and a floor between calls would add its length to every task's latency.
        tasks: { minWaitIntervalMs: 0, batchDelayMs: 10, onTaskFinished: this.observer.onTaskFinished },
        onCall: this.observer.onCall,
      })
      this.client.catch(() => {
        this.client = undefined
      })
    }
    return this.client
  }
}

function translate(err: unknown): unknown {
  if (err instanceof TaskFailed || err instanceof VcenterUnreachable) return err
  if (err instanceof TaskFailedError) return new TaskFailed(err.faultType, err.localizedMessage || err.message, err.task.value)
  if (err instanceof VimConnectionError || err instanceof TaskWatchTimeoutError || err instanceof TaskWatcherClosedError) {
    return new VcenterUnreachable(err.message, { cause: err })
  }
  // The task's outcome is unknown (vCenter restarted): the retry settles it by instance UUID.
  if (err instanceof TaskVanishedError) return new VcenterUnreachable(err.message, { cause: err })
  if (err instanceof VimHttpError) {
    return err.status >= 500 || err.status === 429 ? new VcenterUnreachable(err.message, { cause: err }) : new TaskFailed('HttpError', err.message)
  }
  if (err instanceof VimFault) {
    // Still not authenticated after the session layer's fresh login: a passing state of vCenter's
    // session service, not a refusal of the operation (which never ran).
    if (err.faultType === 'NotAuthenticated') return new VcenterUnreachable(`vCenter session: ${err.message}`, { cause: err })
    if (err.faultType === 'InvalidLogin') return new VcenterUnreachable('vCenter refused the login (InvalidLogin): check VCENTER_USERNAME and VCENTER_PASSWORD', { cause: err })
    return new TaskFailed(err.faultType, err.faultString || err.message)
  }
  return err
}
