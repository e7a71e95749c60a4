/**
 * Reads of clones with their provenance (deployment, requester, ticket, parent, snapshot) and
 * custom attributes, in a fixed number of queries whatever the number of clones.
 */
import { and, asc, eq, inArray, like, ne } from 'drizzle-orm'
import type { AttributeValue } from '../../domain/attributes.js'
import type { Db } from '../database.js'
import { cloneAttributes, clones, deployments, type CloneRow, type DeploymentRow } from '../schema.js'

export interface CloneRecord {
  clone: CloneRow
  deployment: DeploymentRow
  attributes: AttributeValue[]
}

export class CloneRepository {
  constructor(private readonly db: Db) {}

  /** The clone holding this name: the live one, else the most recent failed one. */
  async findByName(name: string): Promise<CloneRecord | undefined> {
    const rows = await this.db
      .select()
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(eq(clones.name, name))
    rows.sort((a, b) => rank(a.clones) - rank(b.clones) || b.clones.createdAt.getTime() - a.clones.createdAt.getTime())
    const [row] = rows
    if (!row) return undefined
    const [record] = await this.withAttributes([row])
    return record
  }

  async list(filter: { prefix?: string; limit: number }): Promise<CloneRecord[]> {
    const where = filter.prefix
      ? and(like(clones.name, `${escapeLike(filter.prefix)}%`), ne(clones.status, 'failed'))
      : undefined
    const rows = await this.db
      .select()
      .from(clones)
      .innerJoin(deployments, eq(deployments.id, clones.deploymentId))
      .where(where)
      .orderBy(asc(clones.name), asc(clones.createdAt))
      .limit(filter.limit)
    return this.withAttributes(rows)
  }

  private async withAttributes(rows: { clones: CloneRow; deployments: DeploymentRow }[]): Promise<CloneRecord[]> {
    const ids = rows.map((r) => r.clones.id)
    const attributes =
      ids.length === 0
        ? []
        : await this.db
            .select()
            .from(cloneAttributes)
            .where(inArray(cloneAttributes.cloneId, ids))
            .orderBy(asc(cloneAttributes.name))
    const byClone = new Map<string, AttributeValue[]>()
    for (const a of attributes) {
      const list = byClone.get(a.cloneId) ?? []
      list.push({ name: a.name, value: a.value })
      byClone.set(a.cloneId, list)
    }
    return rows.map((r) => ({ clone: r.clones, deployment: r.deployments, attributes: byClone.get(r.clones.id) ?? [] }))
  }
}

const rank = (c: CloneRow) => (c.status === 'failed' ? 1 : 0)

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}
