/**
 * Per-request batching (no N+1): every record a query touches is read through these loaders, which
 * gather the keys asked for in one tick into one SQL query. Listing 1,000 clones with their
 * deployment, parent, snapshot and attributes is then 3 queries: the page, the deployments (which
 * also give parent and snapshot), the attributes.
 *
 * dataloader rather than mercurius's per-field loaders: one batch of deployments serves
 * Clone.deployment, Clone.parent and Clone.snapshot alike.
 *
 * Attributes come from the attribute store (src/assets), as REST's do: secrets sealed at rest are
 * opened only for a caller with secrets:read, and each such reveal is recorded (one insert a batch).
 */
import DataLoader from 'dataloader'
import type { Attribute, AttributeStore, HistoryEntry } from '../db/repositories/attributes.js'
import type { Db } from '../db/database.js'
import type { CloneRow, CloneStepRow, DeploymentRow } from '../db/schema.js'
import type { CloneStatus } from '../domain/progress.js'
import { hasScope, type Principal } from '../http/auth-plugin.js'
import * as queries from '../db/repositories/read-models.js'

/** A pool's latest deployments shown with it, as GET /v1/pools/{name} shows them. */
export const POOL_DEPLOYMENTS_SHOWN = 10

export interface Loaders {
  deployment: DataLoader<string, DeploymentRow | undefined>
  clonesOfDeployment: DataLoader<string, CloneRow[]>
  statusCounts: DataLoader<string, { status: CloneStatus; n: number }[]>
  attributes: DataLoader<string, Attribute[]>
  vanishedAt: DataLoader<string, Date | null>
  steps: DataLoader<string, CloneStepRow[]>
  clonesOfParent: DataLoader<string, CloneRow[]>
  /** Keyed by historyPageKey(): a page of one clone's attribute history. */
  historyPage: DataLoader<string, HistoryRow[]>
  historyCount: DataLoader<string, number>
  /** By pool name: its live clones, by number. */
  liveClonesOfPool: DataLoader<string, CloneRow[]>
  /** By pool name: its latest deployments, newest first (as GET /v1/pools/{name}). */
  deploymentsOfPool: DataLoader<string, DeploymentRow[]>
}

export type HistoryRow = HistoryEntry & { seq: number }

/**
 * A history page's key: the clone, the seq its page starts after, and the rows to read (`first` + 1:
 * the extra row only tells whether a next page exists).
 */
export function historyPageKey(cloneId: string, afterSeq: number | undefined, limit: number): string {
  return JSON.stringify([cloneId, afterSeq ?? null, limit])
}

export interface LoaderSources {
  db: Db
  store: AttributeStore
  /** Whose request: decides whether secrets are revealed (and recorded as revealed to whom). */
  principal?: Principal
}

function loader<V>(
  read: (keys: readonly string[]) => Promise<Map<string, V>>,
  missing: () => V,
  options: { cache: boolean },
): DataLoader<string, V> {
  return new DataLoader<string, V>(
    async (keys) => {
      const found = await read(keys)
      return keys.map((k) => found.get(k) ?? missing())
    },
    { cache: options.cache, maxBatchSize: 5000 },
  )
}

async function readAttributes({ store, principal }: LoaderSources, cloneIds: readonly string[]): Promise<Map<string, Attribute[]>> {
  const reveal = hasScope(principal, 'secrets:read')
  const found = await store.current(cloneIds, { reveal })
  if (reveal && principal) {
    const reveals = [...found].map(([cloneId, list]) => ({ cloneId, names: list.filter((a) => a.secret).map((a) => a.name) }))
    const shown = reveals.filter((r) => r.names.length > 0)
    if (shown.length) await store.recordReveals(principal.sub, shown)
  }
  return found
}

/**
 * History pages of many clones: one query per distinct (after, limit), usually one for a whole list of
 * clones. With secrets:read, the secrets shown are recorded as revealed exactly as REST's
 * GET /v1/clones/{name}/history records them (entries with a name and a value), in one insert per
 * batch; the extra row read to detect a next page is not shown, so not recorded.
 */
async function readHistoryPages({ store, principal }: LoaderSources, keys: readonly string[]): Promise<Map<string, HistoryRow[]>> {
  const reveal = hasScope(principal, 'secrets:read')
  const groups = new Map<string, { afterSeq: number | undefined; limit: number; cloneIds: string[] }>()
  for (const key of keys) {
    const [cloneId, afterSeq, limit] = JSON.parse(key) as [string, number | null, number]
    const group = `${afterSeq}/${limit}`
    const entry = groups.get(group) ?? { afterSeq: afterSeq ?? undefined, limit, cloneIds: [] }
    entry.cloneIds.push(cloneId)
    groups.set(group, entry)
  }
  const found = new Map<string, HistoryRow[]>()
  const reveals: { cloneId: string; names: string[] }[] = []
  for (const { afterSeq, limit, cloneIds } of groups.values()) {
    const pages = await store.historyPages(cloneIds, { reveal, afterSeq, limit })
    for (const [cloneId, rows] of pages) {
      found.set(historyPageKey(cloneId, afterSeq, limit), rows)
      const shown = rows.slice(0, limit - 1)
      const names = shown.filter((e) => e.secret && e.name !== null && (e.oldValue !== null || e.newValue !== null)).map((e) => e.name!)
      if (reveal && names.length) reveals.push({ cloneId, names })
    }
  }
  if (reveals.length && principal) await store.recordReveals(principal.sub, reveals)
  return found
}

/**
 * `cache: false` for a subscription's context, which lives as long as the WebSocket: batches still
 * form, but nothing read once is served again stale.
 */
export function createLoaders(sources: LoaderSources, options: { cache: boolean } = { cache: true }): Loaders {
  const { db, store } = sources
  return {
    deployment: loader((ids) => queries.deploymentsByIds(db, ids), () => undefined, options),
    clonesOfDeployment: loader((ids) => queries.clonesByDeploymentIds(db, ids), () => [], options),
    statusCounts: loader((ids) => queries.statusCountsByDeploymentIds(db, ids), () => [], options),
    attributes: loader((ids) => readAttributes(sources, ids), () => [], options),
    vanishedAt: loader((ids) => store.vanishedSince(ids), () => null, options),
    steps: loader((ids) => queries.stepsByCloneIds(db, ids), () => [], options),
    clonesOfParent: loader((morefs) => queries.clonesByParentMorefs(db, morefs), () => [], options),
    historyPage: loader((keys) => readHistoryPages(sources, keys), () => [], options),
    historyCount: loader((ids) => store.historyCounts(ids), () => 0, options),
    liveClonesOfPool: loader((names) => queries.liveClonesByPoolNames(db, names), () => [], options),
    deploymentsOfPool: loader((names) => queries.latestDeploymentsByPoolNames(db, names, POOL_DEPLOYMENTS_SHOWN), () => [], options),
  }
}
