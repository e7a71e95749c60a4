/**
 * Reads of clones with their provenance (deployment, requester, ticket, parent, snapshot) and
 * custom attributes, in a fixed number of queries whatever the number of clones. Attributes come
 * from the attribute store (src/assets), which opens or redacts secrets.
 */
import { and, asc, desc, eq, like, notInArray } from 'drizzle-orm'
import type { Attribute, AttributeStore } from './attributes.js'
import type { AttributeValue } from '../../domain/attributes.js'
import { NOT_LIVE_STATUSES } from '../../domain/progress.js'
import type { Db } from '../database.js'
import { clones, deployments, type CloneRow, type DeploymentRow } from '../schema.js'

export interface CloneRecord {
  clone: CloneRow
  deployment: DeploymentRow
  /** Secrets are "***" unless read with `revealSecrets`. */
  attributes: Attribute[]
  /** When the sync last found the VM gone from vCenter; null while it exists (as far as is known). */
  vanishedAt: Date | null
  /** Read for one clone (findByName): the clone it replaced and the clone that replaced it (refresh, recompose). */
  lineage?: Lineage
}

export interface LinkedClone {
  clone: CloneRow
  deployment: DeploymentRow
}

export interface Lineage {
  replaces?: LinkedClone
  replacedBy?: LinkedClone
}

export interface ReadOptions {
  /** Open secrets (the caller has secrets:read and records the reveal). Default: redact them. */
  revealSecrets?: boolean
}

export class CloneRepository {
  private attributes?: AttributeStore

  constructor(private readonly db: Db) {}

  /** Attributes are read through the store (attached by src/assets/plugin.ts at start-up). */
  useAttributeStore(store: AttributeStore): void {
    this.attributes = store
  }

  /** The clone holding this name: the live one, else the most recent destroyed or failed one. */
  async findByName(name: string, options: ReadOptions = {}): Promise<CloneRecord | undefined> {
    const rows = await this.db
      .select()
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(eq(clones.name, name))
    rows.sort((a, b) => rank(a.clones) - rank(b.clones) || b.clones.createdAt.getTime() - a.clones.createdAt.getTime())
    const [row] = rows
    if (!row) return undefined
    const [record] = await this.withAttributes([row], options)
    return record && { ...record, lineage: await this.lineage(record.clone) }
  }

  /** The clone this one replaced, and the latest clone that replaced it. */
  async lineage(clone: CloneRow): Promise<Lineage> {
    const [replaces, replacedBy] = await Promise.all([
      clone.replacesCloneId
        ? this.db.select().from(clones).innerJoin(deployments, eq(deployments.id, clones.deploymentId)).where(eq(clones.id, clone.replacesCloneId))
        : [],
      this.db
        .select()
        .from(clones)
        .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
        .where(eq(clones.replacesCloneId, clone.id))
        .orderBy(desc(clones.createdAt))
        .limit(1),
    ])
    const linked = (rows: { clones: CloneRow; deployments: DeploymentRow }[]) =>
      rows[0] ? { clone: rows[0].clones, deployment: rows[0].deployments } : undefined
    return { replaces: linked(replaces), replacedBy: linked(replacedBy) }
  }

  /**
   * Clones by name; with a prefix or attribute values (all must match), live clones only. Secret
   * attributes cannot be matched: the caller refuses them (AttributeStore.isSecret).
   */
  async list(filter: { prefix?: string; attributes?: AttributeValue[]; limit: number }, options: ReadOptions = {}): Promise<CloneRecord[]> {
    const attributeMatch = filter.attributes?.length ? this.store().hasValues(filter.attributes) : undefined
    const where =
      filter.prefix || attributeMatch
        ? and(
            filter.prefix ? like(clones.name, `${escapeLike(filter.prefix)}%`) : undefined,
            attributeMatch,
            notInArray(clones.status, [...NOT_LIVE_STATUSES]),
          )
        : undefined
    const rows = await this.db
      .select()
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(where)
      .orderBy(asc(clones.name), asc(clones.createdAt))
      .limit(filter.limit)
    return this.withAttributes(rows, options)
  }

  private async withAttributes(rows: { clones: CloneRow; deployments: DeploymentRow }[], options: ReadOptions): Promise<CloneRecord[]> {
    const ids = rows.map((r) => r.clones.id)
    const store = this.store()
    const [attributes, vanished] = await Promise.all([
      store.current(ids, { reveal: options.revealSecrets ?? false }),
      store.vanishedSince(ids),
    ])
    return rows.map((r) => ({
      clone: r.clones,
      deployment: r.deployments,
      attributes: attributes.get(r.clones.id) ?? [],
      vanishedAt: vanished.get(r.clones.id) ?? null,
    }))
  }

  private store(): AttributeStore {
    if (!this.attributes) throw new Error('CloneRepository: no attribute store attached (src/assets/plugin.ts attaches it)')
    return this.attributes
  }
}

/** The live clone first, then a replacement still waiting for the name, then a destroyed or failed one. */
const rank = (c: CloneRow) => (c.status === 'failed' || c.status === 'destroyed' ? 2 : c.status === 'waiting' ? 1 : 0)

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}
