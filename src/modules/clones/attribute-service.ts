/**
 * What the API (REST now, GraphQL next) does with clones' attributes: read clones for a caller
 * (secrets revealed only with secrets:read, and every reveal recorded), set attributes in vCenter and
 * PostgreSQL together, read a clone's history, and find clones by an attribute's value.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { CloneFilter, CloneRecord, CloneRepository } from '../../db/repositories/clones.js'
import type { CloneRow } from '../../db/schema.js'
import type { CloneStatus } from '../../domain/progress.js'
import type { AttributeValue } from '../../domain/attributes.js'
import { parseCloneCursorKey, type CloneListKey } from '../../domain/clone-order.js'
import {
  CloneGone,
  CloneNotFound,
  CloneNotReady,
  Forbidden,
  ValidationFailed,
} from '../../errors.js'
import type { TeamFilter } from '../../domain/teams.js'
import type { VcenterGateway } from '../../vcenter/gateway.js'
import { toClientError } from '../../vcenter/client-errors.js'
import { findInvalidXmlChar } from '../../domain/xml-text.js'
import { AttributeFilterError, parseAttributeFilter } from './attribute-filter.js'
import { lockClones, type Attribute, type AttributeChange, type AttributeStore, type HistoryEntry } from '../../db/repositories/attributes.js'

/** The records this service hands out, and the key its pages' cursors hold (for REST and GraphQL). */
export type { CloneRow, CloneStepRow, DeploymentRow } from '../../db/schema.js'
export { cloneCursorKey, CLONE_CURSOR_PARTS } from '../../domain/clone-order.js'

/** Who reads or writes: the token's subject, its teams, and whether it holds secrets:read and secrets:write. */
export interface Caller {
  sub: string
  canReadSecrets: boolean
  /** Setting or clearing a secret attribute needs secrets:write (admin holds it). */
  canWriteSecrets: boolean
  /** The teams whose clones it sees (domain/teams.ts visibleTeams): another team's clone is CLONE_NOT_FOUND. */
  teams: TeamFilter
}

export const MAX_NAME_LENGTH = 255
export const MAX_VALUE_LENGTH = 4096

export class AttributeService {
  constructor(
    readonly store: AttributeStore,
    private readonly clones: CloneRepository,
    private readonly vcenter: VcenterGateway,
    private readonly log: FastifyBaseLogger,
  ) {}

  // ---- reads --------------------------------------------------------------------------------

  /** The clone holding `name`, as `caller` may see it; throws CLONE_NOT_FOUND. */
  async getClone(name: string, caller: Caller): Promise<CloneRecord> {
    const record = await this.clones.findByName(name, { revealSecrets: caller.canReadSecrets, teams: caller.teams })
    if (!record) throw new CloneNotFound({ name }, name)
    await this.recordRevealed(caller, [record])
    return record
  }

  /**
   * Clones by prefix and attribute filters (`name:value` texts, see attribute-filter.ts; all must
   * match). Throws VALIDATION_FAILED for a malformed filter or one on a secret attribute.
   */
  async listClones(
    filter: { prefix?: string; deployment?: string; attributes?: readonly string[]; limit: number; after?: CloneListKey },
    caller: Caller,
  ): Promise<{ records: CloneRecord[]; more: boolean }> {
    const attributes = (filter.attributes ?? []).map((text) => this.parseFilter(text))
    // One more than asked: its presence says there is a next page (it is not shown, so not revealed).
    const read = await this.clones.list(
      { prefix: filter.prefix, deployment: filter.deployment, attributes, limit: filter.limit + 1, after: filter.after },
      { revealSecrets: caller.canReadSecrets, teams: caller.teams },
    )
    const records = read.slice(0, filter.limit)
    await this.recordRevealed(caller, records)
    return { records, more: read.length > filter.limit }
  }

  /** Find clones by attribute values (for GraphQL): `[{ name, value }]`, all must match. */
  async findClonesByAttributes(filters: readonly AttributeValue[], caller: Caller, limit = 500): Promise<CloneRecord[]> {
    for (const f of filters) this.refuseSecretFilter(f.name)
    const records = await this.clones.list({ attributes: [...filters], limit }, { revealSecrets: caller.canReadSecrets, teams: caller.teams })
    await this.recordRevealed(caller, records)
    return records
  }

  /**
   * GraphQL's filter of a page of clones; VALIDATION_FAILED for an attribute that is secret (its values
   * are sealed, so no one can search them).
   */
  cloneFilter(filter: { prefix?: string; parent?: string; status?: CloneStatus; attribute?: AttributeValue; teams: TeamFilter }): CloneFilter & { teams: TeamFilter } {
    if (filter.attribute) this.refuseSecretFilter(filter.attribute.name)
    return {
      teams: filter.teams,
      prefix: filter.prefix,
      parent: filter.parent,
      status: filter.status,
      attributes: filter.attribute ? [filter.attribute] : undefined,
    }
  }

  /**
   * A page of clones in the list's order (domain/clone-order.ts), after the decoded cursor's key
   * (cloneCursorKey); one of another list or an older order is VALIDATION_FAILED on `field`.
   */
  async pageClones(filter: CloneFilter & { teams: TeamFilter }, limit: number, after?: string[], field = 'after'): Promise<CloneRow[]> {
    return this.clones.page(filter, limit, cloneCursorAfter(after, field))
  }

  countClones(filter: CloneFilter & { teams: TeamFilter }): Promise<number> {
    return this.clones.count(filter)
  }

  // ---- batch reads of many clones (GraphQL's loaders); the caller records what it reveals ----

  /** The current attributes of these clones, by clone; secrets redacted unless `reveal`. */
  attributesOf(cloneIds: readonly string[], options: { reveal: boolean }): Promise<Map<string, Attribute[]>> {
    return this.store.current(cloneIds, options)
  }

  /** When each of these clones was last found vanished from vCenter (absent: present). */
  vanishedSince(cloneIds: readonly string[]): Promise<Map<string, Date>> {
    return this.store.vanishedSince(cloneIds)
  }

  /** A page of the history of each of these clones, newest first: entries older than `beforeSeq`, at most `limit` each. */
  historyPages(
    cloneIds: readonly string[],
    options: { reveal: boolean; beforeSeq?: number; limit: number },
  ): Promise<Map<string, (HistoryEntry & { seq: number })[]>> {
    return this.store.historyPages(cloneIds, options)
  }

  historyCounts(cloneIds: readonly string[]): Promise<Map<string, number>> {
    return this.store.historyCounts(cloneIds)
  }

  /** Records that `sub` was shown these secrets. */
  recordReveals(sub: string, reveals: readonly { cloneId: string; names: readonly string[] }[]): Promise<void> {
    return this.store.recordReveals(sub, reveals)
  }

  /**
   * A page of a clone's attribute history, newest first: at most `page.limit` entries older than
   * `page.cursor` (the `nextCursor` of the page before; none: the latest). Secret values "***" unless
   * the caller may read them; those shown are recorded as revealed.
   */
  async history(
    name: string,
    caller: Caller,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ record: CloneRecord; entries: HistoryEntry[]; nextCursor: string | null }> {
    const limit = page.limit ?? HISTORY_PAGE_SIZE
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_PAGE_SIZE) {
      throw new ValidationFailed({ field: 'limit', minimum: 1, maximum: MAX_HISTORY_PAGE_SIZE }, `"limit" must be between 1 and ${MAX_HISTORY_PAGE_SIZE}`)
    }
    const beforeSeq = page.cursor === undefined ? undefined : decodeHistoryCursor(page.cursor)
    const record = await this.clones.findByName(name, { teams: caller.teams })
    if (!record) throw new CloneNotFound({ name }, name)
    // One entry more than asked: its presence says there is an older page.
    const rows = (await this.store.historyPages([record.clone.id], { reveal: caller.canReadSecrets, beforeSeq, limit: limit + 1 })).get(record.clone.id) ?? []
    const shown = rows.slice(0, limit)
    const nextCursor = rows.length > limit ? encodeHistoryCursor(shown.at(-1)!.seq) : null
    const entries: HistoryEntry[] = shown.map(({ seq: _seq, ...entry }) => entry)
    if (caller.canReadSecrets) {
      const revealed = entries.filter((e) => e.secret && e.name !== null && (e.oldValue !== null || e.newValue !== null))
      if (revealed.length) await this.store.recordReveals(caller.sub, [{ cloneId: record.clone.id, names: revealed.map((e) => e.name!) }])
    }
    return { record, entries, nextCursor }
  }

  // ---- writes -------------------------------------------------------------------------------

  /**
   * Sets a clone's attributes in vCenter (SetField, creating missing field definitions) and in
   * PostgreSQL, together or not at all:
   *
   *   1. a transaction is opened and the clone's row locked (other writers of it wait: the PATCH of
   *      another user, the sync job);
   *   2. vCenter's current values are read (to restore them), then the changed values written;
   *   3. the values and their history entries are written in the transaction, which commits.
   *
   * vCenter has no transactions, so "neither" is reached by compensation: if writing to vCenter fails
   * part-way, or PostgreSQL fails afterwards (its write, or the commit), the values vCenter had are
   * written back before the error is answered, and the transaction is rolled back. A value vCenter
   * did not have is written back as "" (a custom value cannot be unset). Only if vCenter cannot be
   * reached for that restore can the two differ: it is logged, and the next sync records vCenter's
   * values as drift, so that the records say what vCenter holds.
   *
   * Returns the changes made to the records (values equal to the current ones are not changes), but a
   * secret is always written, recorded and listed as changed (see AttributeStore.write): whether the
   * value given was the one held must not be learnt by writing it (no guessing oracle).
   *
   * Setting or clearing a secret attribute needs secrets:write: 403 FORBIDDEN before anything is read
   * or written. Another team's clone is CLONE_NOT_FOUND, as a missing one.
   */
  async setAttributes(name: string, values: readonly AttributeValue[], caller: Caller): Promise<AttributeChange[]> {
    const checked = checkValues(values)
    if (!caller.canWriteSecrets && checked.some((v) => this.store.isSecret(v.name))) {
      throw new Forbidden({ required: 'secrets:write' }, 'secrets:write')
    }
    const found = await this.clones.findByName(name, { teams: caller.teams })
    if (!found) throw new CloneNotFound({ name }, name)
    const { clone } = found
    if (clone.status !== 'ready' || !clone.moref) {
      throw new CloneNotReady({ name, status: clone.status }, name, clone.status === 'failed' ? 'failed' : `still being made (${clone.status})`)
    }
    const moref = clone.moref

    let touched: AttributeValue[] = []
    let before = new Map<string, string>()
    try {
      return await this.store.transaction(async (tx) => {
        await lockClones(tx, [clone.id])
        const state = await this.vcenter.readVmState(moref)
        if (!state) throw new CloneGone({ name, moref }, name)
        before = state.attributes
        // A secret is written even when equal, as the records record it (no oracle, see above).
        const toWrite = checked.filter((v) => (before.get(v.name) ?? '') !== v.value || !before.has(v.name) || this.store.isSecret(v.name))
        touched = toWrite
        await this.vcenter.setAttributes(moref, toWrite)
        return this.store.write(tx, clone.id, checked, { source: 'user', actor: caller.sub }, { alwaysRecordSecrets: true })
      })
    } catch (err) {
      if (touched.length) await this.restore(name, moref, touched, before)
      throw toClientError(err)
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /** Writes back vCenter's earlier values of these attributes; logs (names only) when it cannot. */
  private async restore(name: string, moref: string, touched: AttributeValue[], before: Map<string, string>): Promise<void> {
    try {
      await this.vcenter.setAttributes(
        moref,
        touched.map((v) => ({ name: v.name, value: before.get(v.name) ?? '' })),
      )
      this.log.warn({ clone: name, attributes: touched.map((v) => v.name) }, 'attribute change failed; vCenter values restored')
    } catch (err) {
      this.log.error(
        { clone: name, attributes: touched.map((v) => v.name), err: String(err) },
        'attribute change failed and vCenter could not be restored; the next sync records its values',
      )
    }
  }

  private async recordRevealed(caller: Caller, records: readonly CloneRecord[]): Promise<void> {
    if (!caller.canReadSecrets) return
    const reveals = records
      .map((r) => ({ cloneId: r.clone.id, names: r.attributes.filter((a) => a.secret).map((a) => a.name) }))
      .filter((r) => r.names.length > 0)
    if (reveals.length) await this.store.recordReveals(caller.sub, reveals)
  }

  private parseFilter(text: string): AttributeValue {
    let filter: AttributeValue
    try {
      filter = parseAttributeFilter(text)
    } catch (err) {
      if (err instanceof AttributeFilterError) throw new ValidationFailed({ field: 'attribute' }, err.message)
      throw err
    }
    this.refuseSecretFilter(filter.name)
    return filter
  }

  private refuseSecretFilter(name: string): void {
    if (this.store.isSecret(name)) {
      throw new ValidationFailed({ field: 'attribute', name }, `"${name}" is a secret attribute: its values are encrypted and cannot be searched`)
    }
  }
}

/** Names and values vCenter can take: 400 with the attribute's name (never its value) otherwise. */
export function checkValues(values: readonly AttributeValue[]): AttributeValue[] {
  if (values.length === 0) throw new ValidationFailed({ field: 'attributes' }, 'give at least one attribute to set')
  for (const { name, value } of values) {
    if (name.trim() === '') throw new ValidationFailed({ field: 'attributes' }, 'an attribute name is empty')
    if (name.length > MAX_NAME_LENGTH) {
      throw new ValidationFailed({ field: 'attributes', name }, `the attribute name "${name.slice(0, 40)}..." is longer than ${MAX_NAME_LENGTH} characters`)
    }
    if (findInvalidXmlChar(name) >= 0) throw new ValidationFailed({ field: 'attributes', name }, `the attribute name "${name}" contains a control character`)
    if (value.length > MAX_VALUE_LENGTH) {
      throw new ValidationFailed({ field: 'attributes', name }, `the value of "${name}" is longer than ${MAX_VALUE_LENGTH} characters`)
    }
    if (findInvalidXmlChar(value) >= 0) throw new ValidationFailed({ field: 'attributes', name }, `the value of "${name}" contains a control character vCenter cannot store`)
  }
  return [...values]
}

/** A history page's default and largest sizes (GET /v1/clones/{name}/history). */
export const HISTORY_PAGE_SIZE = 100
export const MAX_HISTORY_PAGE_SIZE = 1000

/** The key of a decoded clone-list cursor (none: from the start); VALIDATION_FAILED for a foreign one. */
export function cloneCursorAfter(parts: readonly (string | number)[] | undefined, field: string): CloneListKey | undefined {
  if (parts === undefined) return undefined
  const key = parseCloneCursorKey(parts)
  if (!key) throw new ValidationFailed({ field }, `"${field}" is not a cursor given by this API`)
  return key
}

/** A history cursor: the last entry's seq, opaque (base64url), as GraphQL's history cursors. */
function encodeHistoryCursor(seq: number): string {
  return Buffer.from(JSON.stringify([String(seq)])).toString('base64url')
}

function decodeHistoryCursor(cursor: string): number {
  let key: unknown
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  const seq = Array.isArray(key) && key.length === 1 && typeof key[0] === 'string' && /^\d{1,15}$/.test(key[0]) ? Number(key[0]) : NaN
  if (!Number.isSafeInteger(seq)) throw new ValidationFailed({ field: 'cursor' }, '"cursor" is not a cursor given by this API')
  return seq
}
