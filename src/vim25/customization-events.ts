// Guest customization ends inside the guest, after power-on: vCenter posts CustomizationStartedEvent,
// then CustomizationSucceeded or a CustomizationFailed subtype. The watcher reads them the way the task
// watcher reads tasks, never with a poll per clone:
//   - ONE EventHistoryCollector per session, filtered by the customization event types, its page
//     made as large as vCenter allows (1000), watched by a PropertyCollector of its own (one filter on
//     the collector's `latestPage`) through ONE WaitForUpdatesEx long-poll loop for every VM waited for.
//   - wait(vm, since) first reads back the VM's events from `since` (QueryEvents, filtered by the VM):
//     events posted before the wait began (a restart, a lost session, a fast guest) are not lost.
//   - A new session (re-login) makes the collector again and reads every waiter's history again.

import * as methods from './methods.js'
import { isFault } from './soap/faults.js'
import { asArray, date, isObject, moRef, str, unwrap } from './soap/values.js'
import type { VimLogger, RoundTripper } from './soap/transport.js'
import { sleep, type SessionGeneration } from './task-types.js'
import type { MoRef, ServiceContent } from './types.js'

/** The events that start or end a guest's customization (CustomizationFailed's subtypes listed too). */
export const CUSTOMIZATION_STARTED = 'CustomizationStartedEvent'
export const CUSTOMIZATION_SUCCEEDED = 'CustomizationSucceeded'
export const CUSTOMIZATION_FAILED_TYPES = [
  'CustomizationFailed',
  'CustomizationSysprepFailed',
  'CustomizationNetworkSetupFailed',
  'CustomizationLinuxIdentityFailed',
  'CustomizationUnknownFailure',
]
export const CUSTOMIZATION_EVENT_TYPES = [CUSTOMIZATION_STARTED, CUSTOMIZATION_SUCCEEDED, ...CUSTOMIZATION_FAILED_TYPES]

/** vCenter's largest page of an event collector. */
const PAGE_SIZE = 1000
/** Clocks of vCenter and of the caller differ: events this much older than `since` still count. */
const CLOCK_SKEW_MS = 5 * 60_000

export interface CustomizationEvent {
  key: number
  type: string
  vm: string
  createdTime?: Date
  message: string
}

export interface CustomizationOutcome {
  outcome: 'succeeded' | 'failed' | 'timeout'
  /** The event that ended it (CustomizationSucceeded, CustomizationSysprepFailed, ...). */
  eventType?: string
  startedAt?: Date
  endedAt?: Date
  message?: string
}

interface Waiter {
  vm: string
  since: number
  startedAt?: Date
  done: boolean
  settle(outcome: CustomizationOutcome): void
}

interface Infra {
  generation: number
  events: MoRef
  collector: MoRef
}

export interface CustomizationWatcherOptions {
  /** Long-poll length of WaitForUpdatesEx, seconds (default 60). */
  maxWaitSeconds?: number
  logger?: VimLogger
}

export class CustomizationWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private infra: Infra | undefined
  private infraPromise: Promise<Infra> | undefined
  private looping = false
  private version = ''
  private closed = false
  private readonly maxWaitSeconds: number

  constructor(
    private readonly rt: RoundTripper,
    private readonly session: SessionGeneration,
    private readonly content: () => ServiceContent,
    private readonly options: CustomizationWatcherOptions = {},
  ) {
    this.maxWaitSeconds = options.maxWaitSeconds ?? 60
  }

  /**
   * Waits for the end of the VM's guest customization, counting events from `since` (when it was
   * powered on): succeeded, failed (with the event's message) or, after `timeoutMs`, timeout.
   */
  wait(vmMoref: string, since: Date, timeoutMs: number, signal?: AbortSignal): Promise<CustomizationOutcome> {
    return new Promise<CustomizationOutcome>((resolve, reject) => {
      const waiter: Waiter = {
        vm: vmMoref,
        since: since.getTime() - CLOCK_SKEW_MS,
        done: false,
        settle: (outcome) => {
          if (waiter.done) return
          waiter.done = true
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          this.remove(waiter)
          resolve(outcome)
        },
      }
      const timer = setTimeout(() => waiter.settle({ outcome: 'timeout', startedAt: waiter.startedAt }), Math.max(0, timeoutMs))
      const onAbort = () => {
        if (waiter.done) return
        waiter.done = true
        clearTimeout(timer)
        this.remove(waiter)
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'))
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      const set = this.waiters.get(vmMoref) ?? new Set<Waiter>()
      set.add(waiter)
      this.waiters.set(vmMoref, set)
      // History first (events already posted), then the loop for what comes next.
      this.readHistory([waiter]).catch((err: Error) => {
        this.options.logger?.warn({ err: err.message, vm: vmMoref }, 'vim25 customization watcher: reading past events failed')
      })
      this.ensureLoop()
    })
  }

  /** Waiters in progress (VMs waited for). */
  get pending(): number {
    let n = 0
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const set of this.waiters.values()) for (const w of set) w.settle({ outcome: 'timeout', startedAt: w.startedAt })
    const infra = this.infra
    this.infra = undefined
    if (!infra || infra.generation !== this.session.generation) return
    const quiet = { timeoutMs: 10_000 }
    await methods.CancelWaitForUpdates(this.rt, { _this: infra.collector }, quiet).catch(() => undefined)
    await methods.DestroyPropertyCollector(this.rt, { _this: infra.collector }, quiet).catch(() => undefined)
    await methods.DestroyCollector(this.rt, { _this: infra.events }, quiet).catch(() => undefined)
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.vm)
    set?.delete(waiter)
    if (set && set.size === 0) this.waiters.delete(waiter.vm)
  }

  /** Reads the waiters' VMs' past customization events (one QueryEvents per VM). */
  private async readHistory(waiters: Waiter[]): Promise<void> {
    const eventManager = this.content().eventManager
    if (!eventManager) return
    for (const w of waiters) {
      if (w.done) continue
      const found = await methods.QueryEvents(this.rt, {
        _this: eventManager,
        filter: {
          entity: { entity: { type: 'VirtualMachine', value: w.vm }, recursion: 'self' },
          time: { beginTime: new Date(w.since) },
          eventTypeId: CUSTOMIZATION_EVENT_TYPES,
        },
      })
      this.deliver(found.map(decodeEvent).flatMap((e) => e ?? []))
    }
  }

  /** Hands events to the waiters of their VMs, oldest first. */
  private deliver(events: CustomizationEvent[]): void {
    events.sort((a, b) => a.key - b.key)
    for (const event of events) {
      const set = this.waiters.get(event.vm)
      if (!set) continue
      for (const w of [...set]) {
        const at = event.createdTime?.getTime()
        if (at !== undefined && at < w.since) continue // an earlier customization of this VM
        if (event.type === CUSTOMIZATION_STARTED) {
          w.startedAt ??= event.createdTime
        } else if (event.type === CUSTOMIZATION_SUCCEEDED) {
          w.settle({ outcome: 'succeeded', eventType: event.type, startedAt: w.startedAt, endedAt: event.createdTime, message: event.message })
        } else if (CUSTOMIZATION_FAILED_TYPES.includes(event.type)) {
          w.settle({ outcome: 'failed', eventType: event.type, startedAt: w.startedAt, endedAt: event.createdTime, message: event.message })
        }
      }
    }
  }

  private ensureLoop(): void {
    if (this.looping || this.closed || this.waiters.size === 0) return
    this.looping = true
    void this.loop().finally(() => {
      this.looping = false
      if (!this.closed && this.waiters.size > 0) setTimeout(() => this.ensureLoop(), 1000).unref?.()
    })
  }

  private async ensureInfra(): Promise<Infra> {
    if (this.infra && this.infra.generation === this.session.generation) return this.infra
    this.infra = undefined
    this.infraPromise ??= this.createInfra().finally(() => (this.infraPromise = undefined))
    return this.infraPromise
  }

  private async createInfra(): Promise<Infra> {
    const generation = this.session.generation
    const content = this.content()
    if (!content.eventManager) throw new Error('vCenter has no EventManager')
    const events = await methods.CreateCollectorForEvents(this.rt, {
      _this: content.eventManager,
      filter: { eventTypeId: CUSTOMIZATION_EVENT_TYPES },
    })
    await methods.SetCollectorPageSize(this.rt, { _this: events, maxCount: PAGE_SIZE })
    const collector = await methods.CreatePropertyCollector(this.rt, { _this: content.propertyCollector })
    await methods.CreateFilter(this.rt, {
      _this: collector,
      spec: { propSet: [{ type: 'EventHistoryCollector', pathSet: ['latestPage'] }], objectSet: [{ obj: events, skip: false }] },
      partialUpdates: false,
    })
    this.infra = { generation, events, collector }
    this.version = ''
    // A new collector (a new session): what happened while there was none is read back.
    if (this.waiters.size > 0) void this.readHistory([...this.waiters.values()].flatMap((s) => [...s])).catch(() => undefined)
    return this.infra
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.closed && this.waiters.size > 0) {
      let infra: Infra
      let set
      try {
        infra = await this.ensureInfra()
        set = await methods.WaitForUpdatesEx(this.rt, {
          _this: infra.collector,
          version: this.version,
          options: { maxWaitSeconds: this.maxWaitSeconds },
        })
        failures = 0
      } catch (err) {
        if (this.closed) return
        if (isFault(err, 'NotAuthenticated') || isFault(err, 'ManagedObjectNotFound') || isFault(err, 'InvalidCollectorVersion')) {
          this.infra = undefined // made again on the next turn
          this.version = ''
          continue
        }
        failures++
        this.options.logger?.warn({ err: (err as Error).message, failures }, 'vim25 customization watcher: WaitForUpdatesEx failed')
        if (failures >= 5) return // ensureLoop starts again while waiters remain; their timeouts still run
        await sleep(Math.min(30_000, 500 * 2 ** failures))
        continue
      }
      if (!set) continue
      this.version = set.version
      const events: CustomizationEvent[] = []
      for (const fu of set.filterSet) {
        for (const ou of fu.objectSet) {
          for (const change of ou.changeSet) {
            if (change.name !== 'latestPage') continue
            for (const raw of asArray(unwrap(change.val) as unknown)) {
              const event = decodeEvent(raw)
              if (event) events.push(event)
            }
          }
        }
      }
      this.deliver(events)
    }
  }
}

/** One customization event, or undefined for anything else. */
export function decodeEvent(raw: unknown): CustomizationEvent | undefined {
  if (!isObject(raw)) return undefined
  const type = str(raw._type)
  const vmArg = isObject(raw.vm) ? raw.vm : undefined
  const vm = moRef(vmArg?.vm)
  if (!type || !vm || !CUSTOMIZATION_EVENT_TYPES.includes(type)) return undefined
  const reason = str(raw.reason)
  const message = str(raw.fullFormattedMessage) ?? reason ?? type
  return { key: Number(str(raw.key) ?? 0), type, vm: vm.value, createdTime: date(raw.createdTime), message }
}
