/**
 * The asset database in PostgreSQL: each clone's custom attributes (clone_attributes) and the history
 * of every change to them (attribute_history): when, who or what (a user's sub, a deployment, the sync
 * from vCenter), the old and the new value. Every write of an attribute goes through here, so that no
 * change escapes the history and no secret is stored in plain text.
 *
 * Secrets (attributes whose name matches the configured patterns) are sealed with AES-256-GCM
 * (src/domain/secrets.ts), bound to their row's id and name; their history entries are sealed too.
 * Reads redact them to "***" unless asked to reveal, and a reveal is recorded by recordReveals().
 *
 * Writers of one clone are serialised by a lock on the clone's row, taken by write(): the row ids a
 * sealed value is bound to cannot change under it.
 */
import { randomUUID } from 'node:crypto'
import { and, asc, desc, eq, inArray, isNull, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../database.js'
import {
  attributeHistory,
  cloneAttributes,
  clones,
  deployments,
  type AttributeHistoryRow,
  type CloneAttributeRow,
  type DeploymentRow,
  type HistoryEvent,
  type HistorySource,
  type StoredAttributeValue,
} from '../schema.js'
import { REDACTED, type AttributeValue } from '../../domain/attributes.js'
import { DEFAULT_SECRET_PATTERNS, secretPolicy, type Keyring, type SealContext } from '../../domain/secrets.js'

/** A transaction of the service's database (drizzle), or the database itself. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
export type Queryable = Db | Tx

/** An attribute as a reader sees it: a secret's value is "***" unless revealed. */
export interface Attribute {
  name: string
  value: string
  secret: boolean
}

/** Who or what changes attributes: recorded with each change. */
export interface ChangeAuthor {
  source: HistorySource
  /** A user's `sub`, a deployment's id, or the sync job. */
  actor: string
  deploymentId?: string
}

export interface AttributeChange {
  name: string
  /** Null: the attribute had no value before. */
  oldValue: string | null
  newValue: string
  secret: boolean
}

export interface HistoryEntry {
  at: Date
  event: HistoryEvent
  source: HistorySource
  actor: string
  deploymentId: string | null
  name: string | null
  secret: boolean
  oldValue: string | null
  newValue: string | null
}

/** The sync job's name in the history. */
export const SYNC_ACTOR = 'attribute-sync'

export class AttributeStore {
  /** Whether an attribute is secret: its name contains one of the patterns (SECRET_ATTRIBUTES). */
  readonly isSecret: (name: string) => boolean

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly secretPatterns: readonly string[] = DEFAULT_SECRET_PATTERNS,
  ) {
    this.isSecret = secretPolicy(secretPatterns)
  }

  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction(work)
  }

  /** The database's clock now (not the transaction's start): when a read of vCenter began, for the sync. */
  async clockTimestamp(): Promise<Date> {
    const { rows } = await this.db.execute<{ now: string }>(sql`SELECT clock_timestamp() AS now`)
    return new Date(rows[0]!.now)
  }

  // ---- reads --------------------------------------------------------------------------------

  /** The current attributes of these clones, by name; secrets redacted unless `reveal`. */
  async current(cloneIds: readonly string[], options: { reveal: boolean }, q: Queryable = this.db): Promise<Map<string, Attribute[]>> {
    const byClone = new Map<string, Attribute[]>()
    if (cloneIds.length === 0) return byClone
    const rows = await q
      .select()
      .from(cloneAttributes)
      .where(inArray(cloneAttributes.cloneId, [...cloneIds]))
      .orderBy(asc(cloneAttributes.name))
    for (const row of rows) {
      const secret = this.rowIsSecret(row)
      const value = secret && !options.reveal ? REDACTED : this.plainValue(row)
      const list = byClone.get(row.cloneId) ?? []
      list.push({ name: row.name, value, secret })
      byClone.set(row.cloneId, list)
    }
    return byClone
  }

  /** Plain current values with the time each was written: what the sync compares with vCenter. */
  async valuesWithTimes(cloneIds: readonly string[], q: Queryable = this.db): Promise<Map<string, Map<string, { value: string; updatedAt: Date }>>> {
    const byClone = new Map<string, Map<string, { value: string; updatedAt: Date }>>()
    if (cloneIds.length === 0) return byClone
    const rows = await q.select().from(cloneAttributes).where(inArray(cloneAttributes.cloneId, [...cloneIds]))
    for (const row of rows) {
      const values = byClone.get(row.cloneId) ?? new Map()
      values.set(row.name, { value: this.plainValue(row), updatedAt: row.updatedAt })
      byClone.set(row.cloneId, values)
    }
    return byClone
  }

  /**
   * A page of the history of each of these clones in one query (REST's history, GraphQL's loaders):
   * newest first, entries older than `beforeSeq` (a cursor: the last entry of the page before), at most
   * `limit` per clone; secrets redacted unless `reveal`. Each entry carries its `seq`, the history's
   * order, for cursors.
   */
  async historyPages(
    cloneIds: readonly string[],
    options: { reveal: boolean; beforeSeq?: number; limit: number },
  ): Promise<Map<string, (HistoryEntry & { seq: number })[]>> {
    const byClone = new Map<string, (HistoryEntry & { seq: number })[]>()
    if (cloneIds.length === 0) return byClone
    const ofClones = and(
      inArray(attributeHistory.cloneId, [...cloneIds]),
      options.beforeSeq === undefined ? undefined : lt(attributeHistory.seq, options.beforeSeq),
    )
    // The latest `limit` entries of each clone, ranked within the clone.
    const ranked = this.db
      .select({
        seq: attributeHistory.seq,
        rank: sql<number>`row_number() OVER (PARTITION BY ${attributeHistory.cloneId} ORDER BY ${attributeHistory.seq} DESC)`.as('rank'),
      })
      .from(attributeHistory)
      .where(ofClones)
      .as('ranked')
    const rows = await this.db
      .select()
      .from(attributeHistory)
      .where(and(ofClones, inArray(attributeHistory.seq, this.db.select({ seq: ranked.seq }).from(ranked).where(lte(ranked.rank, options.limit)))))
      .orderBy(asc(attributeHistory.cloneId), desc(attributeHistory.seq))
    for (const row of rows) {
      const list = byClone.get(row.cloneId) ?? []
      list.push({ ...this.historyEntry(row, options.reveal), seq: row.seq })
      byClone.set(row.cloneId, list)
    }
    return byClone
  }

  /** How many history entries each of these clones has (absent: none). */
  async historyCounts(cloneIds: readonly string[]): Promise<Map<string, number>> {
    if (cloneIds.length === 0) return new Map()
    const rows = await this.db
      .select({ cloneId: attributeHistory.cloneId, n: sql<number>`count(*)::int` })
      .from(attributeHistory)
      .where(inArray(attributeHistory.cloneId, [...cloneIds]))
      .groupBy(attributeHistory.cloneId)
    return new Map(rows.map((r) => [r.cloneId, r.n]))
  }

  /**
   * A condition on `clones` (for a WHERE): the clone has every one of these values. Secrets cannot be
   * matched (their values are sealed); the caller refuses them first (see isSecret).
   */
  hasValues(filters: readonly AttributeValue[]): SQL | undefined {
    const conditions = filters.map(
      (f) =>
        sql`EXISTS (SELECT 1 FROM ${cloneAttributes} WHERE ${cloneAttributes.cloneId} = ${clones.id} AND ${cloneAttributes.name} = ${f.name} AND ${cloneAttributes.value} = ${f.value})`,
    )
    return conditions.length ? and(...conditions) : undefined
  }

  /** When each of these clones was last seen vanished from vCenter (absent: present, as far as the sync knows). */
  async vanishedSince(cloneIds: readonly string[], q: Queryable = this.db): Promise<Map<string, Date>> {
    if (cloneIds.length === 0) return new Map()
    const latest = await this.latestPresenceEvents(cloneIds, q)
    return new Map([...latest].flatMap(([id, e]) => (e.event === 'vanished' ? [[id, e.at] as const] : [])))
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Writes these values of one clone inside `tx`: those that differ from the current ones, each with
   * a history entry by `author`. Locks the clone's row until `tx` ends. Returns what changed.
   * `alwaysRecordSecrets` (a user's write): a secret equal to the current value is written and
   * recorded too, so that neither the answer nor the history tells a writer whether it guessed it.
   */
  async write(
    tx: Tx,
    cloneId: string,
    values: readonly AttributeValue[],
    author: ChangeAuthor,
    options: { alwaysRecordSecrets?: boolean } = {},
  ): Promise<AttributeChange[]> {
    await lockClones(tx, [cloneId])
    const rows = await tx.select().from(cloneAttributes).where(eq(cloneAttributes.cloneId, cloneId))
    const existing = new Map(rows.map((r) => [r.name, r]))
    const latest = new Map(values.map((v) => [v.name, v.value])) // a name given twice: the later wins
    const changes: (AttributeChange & { id: string })[] = []
    for (const [name, value] of latest) {
      const row = existing.get(name)
      const oldValue = row ? this.plainValue(row) : null
      const secret = this.isSecret(name) || (row ? this.rowIsSecret(row) : false)
      if (oldValue === value && !(secret && options.alwaysRecordSecrets)) continue
      changes.push({ id: row?.id ?? randomUUID(), name, oldValue, newValue: value, secret })
    }
    if (changes.length === 0) return []

    await tx
      .insert(cloneAttributes)
      .values(changes.map((c) => ({ id: c.id, cloneId, name: c.name, ...this.storedValue(c.id, c.name, c.newValue, c.secret) })))
      .onConflictDoUpdate({
        target: [cloneAttributes.cloneId, cloneAttributes.name],
        // The row keeps its id: the sealed value was bound to it (the lock above keeps it ours).
        set: {
          value: sql`excluded.value`,
          sealedValue: sql`excluded.sealed_value`,
          keyId: sql`excluded.key_id`,
          updatedAt: sql`clock_timestamp()`,
        },
      })
    await tx.insert(attributeHistory).values(changes.map((c) => this.changeEntry(cloneId, c, author)))
    return changes.map(({ id: _id, ...change }) => change)
  }

  /** The provisioner's copy of the parent's values: recorded as the deployment's changes. */
  recordDeploymentCopy(cloneId: string, deploymentId: string, values: readonly AttributeValue[]): Promise<AttributeChange[]> {
    return this.transaction((tx) => this.write(tx, cloneId, values, { source: 'deployment', actor: deploymentId, deploymentId }))
  }

  /** Records that `sub` was shown these secrets. */
  async recordReveals(sub: string, reveals: readonly { cloneId: string; names: readonly string[] }[]): Promise<void> {
    const rows = reveals.flatMap(({ cloneId, names }) =>
      [...new Set(names)].map((name) => ({
        id: randomUUID(),
        cloneId,
        event: 'reveal' as const,
        source: 'user' as const,
        actor: sub,
        name,
        secret: true,
      })),
    )
    if (rows.length) await this.db.insert(attributeHistory).values(rows)
  }

  /** Records that a clone vanished from vCenter, or came back. */
  async recordPresence(tx: Tx, cloneIds: readonly string[], event: 'vanished' | 'reappeared'): Promise<void> {
    if (cloneIds.length === 0) return
    await tx.insert(attributeHistory).values(
      cloneIds.map((cloneId) => ({ id: randomUUID(), cloneId, event, source: 'vcenter' as const, actor: SYNC_ACTOR })),
    )
  }

  /** The latest vanished/reappeared event of each clone that has one. */
  async latestPresenceEvents(cloneIds: readonly string[], q: Queryable = this.db): Promise<Map<string, { event: HistoryEvent; at: Date }>> {
    const rows = await q
      .selectDistinctOn([attributeHistory.cloneId], { cloneId: attributeHistory.cloneId, event: attributeHistory.event, at: attributeHistory.at })
      .from(attributeHistory)
      .where(and(inArray(attributeHistory.cloneId, [...cloneIds]), inArray(attributeHistory.event, ['vanished', 'reappeared'])))
      .orderBy(attributeHistory.cloneId, sql`${attributeHistory.seq} DESC`)
    return new Map(rows.map((r) => [r.cloneId, { event: r.event, at: r.at }]))
  }

  // ---- a deployment's copy of the parent's values -------------------------------------------

  /** The values a deployment records (deployments.attribute_values), secrets sealed to the deployment. */
  sealDeploymentValues(deploymentId: string, values: readonly AttributeValue[]): StoredAttributeValue[] {
    return values.map((v) => {
      if (!this.isSecret(v.name)) return { name: v.name, value: v.value }
      const { sealed, keyId } = this.keyring.seal(v.value, { recordId: deploymentId, name: v.name })
      return { name: v.name, sealed, keyId }
    })
  }

  /** The plain values of a deployment's copy, for the provisioner (never for presentation). */
  openDeploymentValues(deployment: Pick<DeploymentRow, 'id' | 'attributeValues'>): AttributeValue[] {
    return deployment.attributeValues.map((v) =>
      'sealed' in v ? { name: v.name, value: this.keyring.open(v, { recordId: deployment.id, name: v.name }) } : v,
    )
  }

  // ---- start-up: nothing secret in plain text, everything under the current key --------------

  /**
   * Seals secrets stored in plain text (rows written before encryption at rest, or attributes the
   * policy has since made secret) and re-seals values sealed with a previous key. Idempotent; replicas
   * starting together take turns (advisory lock). Returns how many values it changed.
   */
  async sealAtRest(): Promise<number> {
    return this.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${SEAL_LOCK_KEY})`)
      return (await this.sealAttributes(tx)) + (await this.sealHistory(tx)) + (await this.sealDeployments(tx))
    })
  }

  private async sealAttributes(tx: Tx): Promise<number> {
    const rows = await tx
      .select()
      .from(cloneAttributes)
      .where(
        sql`(${cloneAttributes.sealedValue} IS NULL AND ${this.secretName(cloneAttributes.name)})
          OR ${cloneAttributes.keyId} <> ${this.keyring.currentKeyId}`,
      )
    let changed = 0
    for (const row of rows) {
      const stored = this.storedValue(row.id, row.name, this.plainValue(row), true)
      await tx
        .update(cloneAttributes)
        .set(stored)
        .where(and(eq(cloneAttributes.id, row.id), row.sealedValue === null ? isNull(cloneAttributes.sealedValue) : eq(cloneAttributes.sealedValue, row.sealedValue)))
      changed++
    }
    return changed
  }

  private async sealHistory(tx: Tx): Promise<number> {
    const rows = await tx
      .select()
      .from(attributeHistory)
      .where(
        sql`${attributeHistory.name} IS NOT NULL AND (
          (${attributeHistory.secret} AND ${attributeHistory.keyId} <> ${this.keyring.currentKeyId})
          OR (NOT ${attributeHistory.secret} AND ${this.secretName(attributeHistory.name)}
              AND (${attributeHistory.oldValue} IS NOT NULL OR ${attributeHistory.newValue} IS NOT NULL)))`,
      )
    let changed = 0
    for (const row of rows) {
      const open = (role: 'old' | 'new') => {
        const plain = role === 'old' ? row.oldValue : row.newValue
        const sealed = role === 'old' ? row.oldSealed : row.newSealed
        if (!row.secret) return plain
        return sealed === null ? null : this.keyring.open({ keyId: row.keyId!, sealed }, { recordId: row.id, name: row.name!, role })
      }
      const [oldPlain, newPlain] = [open('old'), open('new')]
      const seal = (value: string | null, role: string) => (value === null ? null : this.keyring.seal(value, { recordId: row.id, name: row.name!, role }).sealed)
      await tx
        .update(attributeHistory)
        .set({
          secret: true,
          oldValue: null,
          newValue: null,
          oldSealed: seal(oldPlain, 'old'),
          newSealed: seal(newPlain, 'new'),
          keyId: this.keyring.currentKeyId,
        })
        .where(eq(attributeHistory.id, row.id))
      changed++
    }
    return changed
  }

  private async sealDeployments(tx: Tx): Promise<number> {
    const rows = await tx
      .select({ id: deployments.id, attributeValues: deployments.attributeValues })
      .from(deployments)
      .where(
        sql`EXISTS (SELECT 1 FROM jsonb_array_elements(${deployments.attributeValues}) v
          WHERE (v ? 'sealed' AND v->>'keyId' <> ${this.keyring.currentKeyId})
             OR (NOT v ? 'sealed' AND ${this.secretName(sql`v->>'name'`)}))`,
      )
    let changed = 0
    for (const row of rows) {
      const plain = this.openDeploymentValues(row)
      await tx.update(deployments).set({ attributeValues: this.sealDeploymentValues(row.id, plain) }).where(eq(deployments.id, row.id))
      changed++
    }
    return changed
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /** SQL: the name in `column` is a secret's (the same test as isSecret, so that sweeps read only what they change). */
  private secretName(column: SQL | typeof cloneAttributes.name | typeof attributeHistory.name): SQL {
    const patterns = this.secretPatterns
      .filter((p) => p !== '')
      .map((p) => sql`${`%${p.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`)
    if (patterns.length === 0) return sql`false`
    return sql`lower(${column}) LIKE ANY (ARRAY[${sql.join(patterns, sql`, `)}]::text[])`
  }

  private rowIsSecret(row: CloneAttributeRow): boolean {
    return row.sealedValue !== null || this.isSecret(row.name)
  }

  private plainValue(row: CloneAttributeRow): string {
    if (row.sealedValue === null) return row.value ?? ''
    return this.keyring.open({ keyId: row.keyId!, sealed: row.sealedValue }, { recordId: row.id, name: row.name })
  }

  private storedValue(id: string, name: string, value: string, secret: boolean) {
    if (!secret) return { value, sealedValue: null, keyId: null }
    const { sealed, keyId } = this.keyring.seal(value, { recordId: id, name })
    return { value: null, sealedValue: sealed, keyId }
  }

  private changeEntry(cloneId: string, change: AttributeChange, author: ChangeAuthor) {
    const id = randomUUID()
    const base = {
      id,
      cloneId,
      event: 'set' as const,
      source: author.source,
      actor: author.actor,
      deploymentId: author.deploymentId ?? null,
      name: change.name,
      secret: change.secret,
    }
    if (!change.secret) return { ...base, oldValue: change.oldValue, newValue: change.newValue }
    const context = (role: string): SealContext => ({ recordId: id, name: change.name, role })
    const sealedNew = this.keyring.seal(change.newValue, context('new'))
    return {
      ...base,
      oldSealed: change.oldValue === null ? null : this.keyring.seal(change.oldValue, context('old')).sealed,
      newSealed: sealedNew.sealed,
      keyId: sealedNew.keyId,
    }
  }

  private historyEntry(row: AttributeHistoryRow, reveal: boolean): HistoryEntry {
    const value = (role: 'old' | 'new'): string | null => {
      if (!row.secret) return role === 'old' ? row.oldValue : row.newValue
      const sealed = role === 'old' ? row.oldSealed : row.newSealed
      if (sealed === null) return null
      return reveal ? this.keyring.open({ keyId: row.keyId!, sealed }, { recordId: row.id, name: row.name!, role }) : REDACTED
    }
    return {
      at: row.at,
      event: row.event,
      source: row.source,
      actor: row.actor,
      deploymentId: row.deploymentId,
      name: row.name,
      secret: row.secret,
      oldValue: value('old'),
      newValue: value('new'),
    }
  }
}

/** Any fixed number; the same in every replica. */
const SEAL_LOCK_KEY = 7_301_994_203

/** Locks clones' rows for the rest of the transaction: writers of one clone's attributes take turns. */
export async function lockClones(tx: Tx, cloneIds: readonly string[]): Promise<void> {
  if (cloneIds.length === 0) return
  await tx
    .select({ id: clones.id })
    .from(clones)
    .where(inArray(clones.id, [...cloneIds]))
    // Always in the same order, so that two writers of several clones cannot deadlock.
    .orderBy(asc(clones.id))
    .for('update')
}
