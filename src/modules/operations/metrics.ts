/**
 * The service's metrics (Prometheus, prom-client): one Registry per app, so that two apps in one
 * process (tests, an API and a worker) never mix their figures. What it counts comes from observers
 * handed to the vCenter gateway and the operation limiter, a hook on every response, and reads of
 * the database at scrape time (metrics-plugin.ts).
 *
 * `webhookDeliveries` (webhook_deliveries_total{outcome}): the webhooks module counts every delivery
 * attempt with `ok`, `http_<status>`, `timeout` or `connection` (its plugin's onAttempt).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { LimiterObserver } from '../../jobs/operation-limiter.js'
import type { OperationsSnapshot } from '../../db/repositories/operations.js'
import type { VcenterObserver } from '../../vcenter/connection.js'
import { routeLabel, scopeLabel, taskKind } from './metric-labels.js'

/** SOAP calls take milliseconds to a minute (WaitForUpdatesEx long-polls). */
const SOAP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
/** vCenter tasks: a power-on takes a second, a clone of a large VM many minutes. */
const TASK_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const WAIT_BUCKETS = [0, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900]

/** The database pools whose waiting clients are reported, by name. */
export type PoolStats = Record<string, { totalCount: number; idleCount: number; waitingCount: number }>

export interface MetricSources {
  /** Records and queues by status, read at scrape time. */
  snapshot(): Promise<OperationsSnapshot>
  pools(): PoolStats
  /** Told when a scrape-time read failed (its gauges are then left empty). */
  onReadError?(err: unknown): void
}

export class ServiceMetrics {
  readonly registry = new Registry()
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>
  readonly soapCalls: Counter<'method' | 'outcome'>
  readonly soapDuration: Histogram<'method' | 'outcome'>
  readonly taskDuration: Histogram<'kind' | 'state'>
  readonly slotsInUse: Gauge<'scope'>
  readonly slotWait: Histogram<'scope'>
  /** For the webhook sender: one increment per delivery attempt, by outcome. */
  readonly webhookDeliveries: Counter<'outcome'>
  private readonly loopDelay: IntervalHistogram
  private sources: MetricSources | undefined
  private pendingSnapshot: Promise<OperationsSnapshot | undefined> | undefined

  constructor() {
    const registers = [this.registry]
    // Node's own: CPU, memory, GC, handles, and event-loop lag (nodejs_eventloop_lag_*).
    collectDefaultMetrics({ register: this.registry })

    this.httpRequests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    })
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers,
    })
    this.soapCalls = new Counter({
      name: 'vcenter_soap_calls_total',
      help: 'vim25 SOAP calls sent to vCenter, by method and outcome (ok, the fault type, http_<status>, connection)',
      labelNames: ['method', 'outcome'],
      registers,
    })
    this.soapDuration = new Histogram({
      name: 'vcenter_soap_call_duration_seconds',
      help: 'Time of a vim25 SOAP call, by method and outcome',
      labelNames: ['method', 'outcome'],
      buckets: SOAP_BUCKETS,
      registers,
    })
    this.taskDuration = new Histogram({
      name: 'vcenter_task_duration_seconds',
      help: 'Time from watching a vCenter task to its end, by kind (clone, customize, power_on, destroy...) and state; guest_customization: the guest\'s own time, from its start event to its end (state timeout: the wait)',
      labelNames: ['kind', 'state'],
      buckets: TASK_BUCKETS,
      registers,
    })
    this.slotsInUse = new Gauge({
      name: 'operation_slots_in_use',
      help: "Operation slots this process holds, by scope (vcenter, host:<moref>, datastore:<moref>, deployment)",
      labelNames: ['scope'],
      registers,
    })
    this.slotWait = new Histogram({
      name: 'operation_slot_wait_seconds',
      help: 'Time a job waited for its operation slots, by scope',
      labelNames: ['scope'],
      buckets: WAIT_BUCKETS,
      registers,
    })
    this.webhookDeliveries = new Counter({
      name: 'webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome (ok, http_<status>, timeout, connection)',
      labelNames: ['outcome'],
      registers,
    })

    // The event loop's delay as perf_hooks measures it, over the time since the last scrape.
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 })
    this.loopDelay.enable()
    const loopDelay = this.loopDelay
    new Gauge({
      name: 'event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (perf_hooks), by statistic (p50, p99, max)',
      labelNames: ['stat'],
      registers,
      collect() {
        // Values are in nanoseconds; an empty histogram (no sample yet) reports NaN for the percentiles.
        const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0)
        this.set({ stat: 'p50' }, seconds(loopDelay.percentile(50)))
        this.set({ stat: 'p99' }, seconds(loopDelay.percentile(99)))
        this.set({ stat: 'max' }, seconds(loopDelay.max))
        loopDelay.reset()
      },
    })

    // collect() runs with the gauge as `this`: these reach the figures of this object.
    const snapshot = () => this.snapshot()
    const pools = () => this.sources?.pools() ?? {}
    new Gauge({
      name: 'clones',
      help: 'Clone records by status and owning team',
      labelNames: ['status', 'team'],
      registers,
      async collect() {
        this.reset()
        for (const row of (await snapshot())?.clones ?? []) this.set({ status: row.status, team: row.team }, row.count)
      },
    })
    new Gauge({
      name: 'deployments',
      help: 'Deployments by kind (deploy, destroy, ...), status and owning team',
      labelNames: ['kind', 'status', 'team'],
      registers,
      async collect() {
        this.reset()
        for (const row of (await snapshot())?.deployments ?? []) this.set({ kind: row.kind, status: row.status, team: row.team }, row.count)
      },
    })
    new Gauge({
      name: 'job_queue_depth',
      help: 'Jobs ready to run and waiting for a worker, by queue',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset()
        for (const row of (await snapshot())?.queues ?? []) this.set({ queue: row.queue }, row.waiting)
      },
    })
    new Gauge({
      name: 'job_queue_active',
      help: 'Jobs being worked on, by queue',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset()
        for (const row of (await snapshot())?.queues ?? []) this.set({ queue: row.queue }, row.active)
      },
    })
    new Gauge({
      name: 'job_queue_oldest_waiting_seconds',
      help: 'How long the longest-waiting ready job has waited, by queue (0: none waits)',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset()
        for (const row of (await snapshot())?.queues ?? []) this.set({ queue: row.queue }, row.oldestWaitingSeconds)
      },
    })
    new Gauge({
      name: 'db_pool_waiting_clients',
      help: 'Queries waiting for a connection of the database pool, by pool',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset()
        for (const [pool, stats] of Object.entries(pools())) this.set({ pool }, stats.waitingCount)
      },
    })
    new Gauge({
      name: 'db_pool_connections',
      help: 'Open connections of the database pool, by pool and state (idle, busy)',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        this.reset()
        for (const [pool, stats] of Object.entries(pools())) {
          this.set({ pool, state: 'idle' }, stats.idleCount)
          this.set({ pool, state: 'busy' }, stats.totalCount - stats.idleCount)
        }
      },
    })
  }

  /** Where the scrape-time figures come from (the database), once it is open. */
  setSources(sources: MetricSources): void {
    this.sources = sources
  }

  /** The gateway's observer: every SOAP call and every task seen to finish. */
  readonly vcenterObserver: VcenterObserver = {
    onCall: ({ method, outcome, durationMs }) => {
      this.soapCalls.inc({ method, outcome })
      this.soapDuration.observe({ method, outcome }, durationMs / 1000)
    },
    onTaskFinished: ({ descriptionId, state, durationMs }) => {
      this.taskDuration.observe({ kind: taskKind(descriptionId), state }, durationMs / 1000)
    },
    // Not a vCenter task, but the step people wait for most: counted beside them, in task states.
    onGuestCustomizationEnded: ({ outcome, durationMs }) => {
      const state = outcome === 'succeeded' ? 'success' : outcome === 'failed' ? 'error' : 'timeout'
      this.taskDuration.observe({ kind: 'guest_customization', state }, durationMs / 1000)
    },
  }

  /** The limiter's observer: slots held and time waited, per scope. */
  readonly limiterObserver: LimiterObserver = {
    acquired: (scopes, waitMs) => {
      for (const key of scopes) {
        const scope = scopeLabel(key)
        this.slotsInUse.inc({ scope })
        this.slotWait.observe({ scope }, waitMs / 1000)
      }
    },
    released: (scopes) => {
      for (const key of scopes) this.slotsInUse.dec({ scope: scopeLabel(key) })
    },
  }

  /** Records one answered request (onResponse). */
  observeRequest(method: string, routePattern: string | undefined, statusCode: number, elapsedMs: number): void {
    const labels = { method, route: routeLabel(routePattern), status_code: String(statusCode) }
    this.httpRequests.inc(labels)
    this.httpDuration.observe(labels, elapsedMs / 1000)
  }

  /** The Prometheus text exposition of every metric. */
  async scrape(): Promise<string> {
    try {
      return await this.registry.metrics()
    } finally {
      this.pendingSnapshot = undefined
    }
  }

  get contentType(): string {
    return this.registry.contentType
  }

  close(): void {
    this.loopDelay.disable()
    this.registry.clear()
  }

  /** One database read shared by every gauge of a scrape (they collect at the same time). */
  private snapshot(): Promise<OperationsSnapshot | undefined> {
    const sources = this.sources
    if (!sources) return Promise.resolve(undefined)
    this.pendingSnapshot ??= sources.snapshot().catch((err: unknown) => {
      sources.onReadError?.(err)
      return undefined
    })
    return this.pendingSnapshot
  }
}
