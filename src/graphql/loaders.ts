/**
 * Per-request batching (no N+1): every record a query touches is read through these loaders, which
 * gather the keys asked for in one tick into one SQL query. Listing 1,000 clones with their
 * deployment, parent, snapshot and attributes is then 3 queries: the page, the deployments (which
 * also give parent and snapshot), the attributes.
 *
 * dataloader rather than mercurius's per-field loaders: one batch of deployments serves
 * Clone.deployment, Clone.parent and Clone.snapshot alike.
 *
 * Each loader takes a module service's batch read (LoaderSources). Attributes come from the clones'
 * service, as REST's do: secrets sealed at rest are opened only for a caller with secrets:read, and
 * each such reveal is recorded (one insert a batch).
 */
import DataLoader from 'dataloader'
import type { Attribute, HistoryEntry } from '../db/repositories/attributes.js'
import type { CloneRow, CloneStepRow, DeploymentRow } from '../db/schema.js'
import type { CloneStatus } from '../domain/progress.js'
import { hasScope, type Principal } from '../http/auth-plugin.js'
import { visibleTeams, type TeamFilter } from '../domain/teams.js'

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
  /** By pool id: its live clones, by number. */
  liveClonesOfPool: DataLoader<string, CloneRow[]>
  /** By pool id: its latest deployments, newest first (as GET /v1/pools/{name}). */
  deploymentsOfPool: DataLoader<string, DeploymentRow[]>
}

export type HistoryRow = HistoryEntry & { seq: number }

/**
 * A history page's key: the clone, the seq its page starts after, and the rows to read (`first` + 1:
 * the extra row only tells whether a next page exists).
 */
export function historyPageKey(cloneId: string, beforeSeq: number | undefined, limit: number): string {
  return JSON.stringify([cloneId, beforeSeq ?? null, limit])
}

type BatchRead<V> = (keys: readonly string[]) => Promise<Map<string, V>>
/** A batch read of rows that belong to teams: only the rows of the caller's teams (TeamFilter). */
type TeamBatchRead<V> = (keys: readonly string[], teams: TeamFilter) => Promise<Map<string, V>>

/** The services' batch reads the loaders use (src/graphql/graphql-plugin.ts wires them). */
export interface LoaderSources {
  deployments: {
    byIds: TeamBatchRead<DeploymentRow>
    clonesOf: TeamBatchRead<CloneRow[]>
    statusCounts: BatchRead<{ status: CloneStatus; n: number }[]>
    stepsOf: BatchRead<CloneStepRow[]>
  }
  clones: {
    attributesOf(cloneIds: readonly string[], options: { reveal: boolean }): Promise<Map<string, Attribute[]>>
    vanishedSince: BatchRead<Date>
    historyPages(cloneIds: readonly string[], options: { reveal: boolean; beforeSeq?: number; limit: number }): Promise<Map<string, HistoryRow[]>>
    historyCounts: BatchRead<number>
    recordReveals(sub: string, reveals: readonly { cloneId: string; names: readonly string[] }[]): Promise<void>
  }
  parents: { clonesOfParents: TeamBatchRead<CloneRow[]> }
  pools: {
    liveClonesOfPools: TeamBatchRead<CloneRow[]>
    latestDeploymentsOfPools(poolIds: readonly string[], limit: number, teams: TeamFilter): Promise<Map<string, DeploymentRow[]>>
  }
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

async function readAttributes({ clones: store, principal }: LoaderSources, cloneIds: readonly string[]): Promise<Map<string, Attribute[]>> {
  const reveal = hasScope(principal, 'secrets:read')
  const found = await store.attributesOf(cloneIds, { reveal })
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
async function readHistoryPages({ clones: store, principal }: LoaderSources, keys: readonly string[]): Promise<Map<string, HistoryRow[]>> {
  const reveal = hasScope(principal, 'secrets:read')
  const groups = new Map<string, { beforeSeq: number | undefined; limit: number; cloneIds: string[] }>()
  for (const key of keys) {
    const [cloneId, beforeSeq, limit] = JSON.parse(key) as [string, number | null, number]
    const group = `${beforeSeq}/${limit}`
    const entry = groups.get(group) ?? { beforeSeq: beforeSeq ?? undefined, limit, cloneIds: [] }
    entry.cloneIds.push(cloneId)
    groups.set(group, entry)
  }
  const found = new Map<string, HistoryRow[]>()
  const reveals: { cloneId: string; names: string[] }[] = []
  for (const { beforeSeq, limit, cloneIds } of groups.values()) {
    const pages = await store.historyPages(cloneIds, { reveal, beforeSeq, limit })
    for (const [cloneId, rows] of pages) {
      found.set(historyPageKey(cloneId, beforeSeq, limit), rows)
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
  const { deployments, clones, parents, pools } = sources
  // Loaders keyed by an id a caller may give (a deployment, a parent, a pool) read only the caller's
  // teams' rows, so that no nested list shows another team's; no principal: no team's. Those keyed by
  // a clone id (attributes, steps, history) are reached only through a clone read so filtered.
  const teams: TeamFilter = sources.principal ? visibleTeams(sources.principal) : []
  return {
    deployment: loader<DeploymentRow | undefined>((ids) => deployments.byIds(ids, teams), () => undefined, options),
    clonesOfDeployment: loader((ids) => deployments.clonesOf(ids, teams), () => [], options),
    statusCounts: loader((ids) => deployments.statusCounts(ids), () => [], options),
    attributes: loader((ids) => readAttributes(sources, ids), () => [], options),
    vanishedAt: loader<Date | null>((ids) => clones.vanishedSince(ids), () => null, options),
    steps: loader((ids) => deployments.stepsOf(ids), () => [], options),
    clonesOfParent: loader((morefs) => parents.clonesOfParents(morefs, teams), () => [], options),
    historyPage: loader((keys) => readHistoryPages(sources, keys), () => [], options),
    historyCount: loader((ids) => clones.historyCounts(ids), () => 0, options),
    liveClonesOfPool: loader((ids) => pools.liveClonesOfPools(ids, teams), () => [], options),
    deploymentsOfPool: loader((ids) => pools.latestDeploymentsOfPools(ids, POOL_DEPLOYMENTS_SHOWN, teams), () => [], options),
  }
}
