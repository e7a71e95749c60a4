/**
 * The sync from vCenter: custom attributes can be changed there (the vSphere Client, scripts), so the
 * service reads back the attributes of its clones and records every difference as a change made in
 * vCenter (drift), so that PostgreSQL says what vCenter holds. Run by a pg-boss schedule
 * (ATTRIBUTE_SYNC_MINUTES) on one replica at a time, and on demand.
 *
 * One bulk read (RetrievePropertiesEx for all the clones' customValue) whatever the number of clones.
 * A value written here after that read began (a PATCH in between) is left for the next run rather
 * than taken for drift: the read may predate it. A clone whose VM is gone from vCenter is recorded
 * as vanished once (its records are kept), and as reappeared if it comes back.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { CloneRepository } from '../../db/repositories/clones.js'
import type { AttributeValue } from '../../domain/attributes.js'
import type { VcenterGateway } from '../../vcenter/gateway.js'
import { SYNC_ACTOR, lockClones, type AttributeStore } from '../../db/repositories/attributes.js'

export interface SyncReport {
  /** Clones compared with vCenter. */
  checked: number
  /** Attribute values that differed, now recorded as changes from vCenter. */
  changes: number
  vanished: number
  reappeared: number
}

export class AttributeSync {
  constructor(
    private readonly clones: CloneRepository,
    private readonly store: AttributeStore,
    private readonly vcenter: VcenterGateway,
    private readonly log: FastifyBaseLogger,
  ) {}

  async run(): Promise<SyncReport> {
    const targets = await this.clones.readyWithVm()
    const report: SyncReport = { checked: 0, changes: 0, vanished: 0, reappeared: 0 }
    if (targets.length === 0) return report

    const readStart = await this.store.clockTimestamp()
    const observed = await this.vcenter.readAttributes(targets.map((t) => t.moref))

    await this.store.transaction(async (tx) => {
      const ids = targets.map((t) => t.id)
      await lockClones(tx, ids)
      const [recorded, presence] = await Promise.all([this.store.valuesWithTimes(ids, tx), this.store.latestPresenceEvents(ids, tx)])
      const vanished: string[] = []
      const reappeared: string[] = []
      for (const target of targets) {
        const seen = observed.get(target.moref)
        const wasVanished = presence.get(target.id)?.event === 'vanished'
        if (!seen) {
          if (!wasVanished) vanished.push(target.id)
          continue
        }
        if (wasVanished) reappeared.push(target.id)
        report.checked++
        const drift = driftOf(recorded.get(target.id) ?? new Map(), seen, readStart)
        if (drift.length) {
          const changes = await this.store.write(tx, target.id, drift, { source: 'vcenter', actor: SYNC_ACTOR })
          report.changes += changes.length
        }
      }
      await this.store.recordPresence(tx, vanished, 'vanished')
      await this.store.recordPresence(tx, reappeared, 'reappeared')
      report.vanished = vanished.length
      report.reappeared = reappeared.length
    })
    if (report.changes || report.vanished || report.reappeared) this.log.info(report, 'attributes synced from vCenter')
    return report
  }
}

/**
 * vCenter's values that differ from the recorded ones. An attribute vCenter has no value for counts
 * as "" (a custom value cannot be removed, only emptied); one written after `readStart` is skipped.
 */
export function driftOf(
  recorded: ReadonlyMap<string, { value: string; updatedAt: Date }>,
  seen: ReadonlyMap<string, string>,
  readStart: Date,
): AttributeValue[] {
  const drift: AttributeValue[] = []
  for (const name of new Set([...recorded.keys(), ...seen.keys()])) {
    const mine = recorded.get(name)
    if (mine && mine.updatedAt >= readStart) continue
    const theirs = seen.get(name) ?? ''
    if (theirs !== (mine?.value ?? '')) drift.push({ name, value: theirs })
  }
  return drift.sort((a, b) => a.name.localeCompare(b.name))
}
