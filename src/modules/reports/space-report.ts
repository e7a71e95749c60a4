/**
 * GET /v1/reports/space: the seed's three figures (traditional, thin, linked) measured from vCenter
 * for the parents the service has cloned and their live clones. One bulk read of summary.storage and
 * the disks of every parent and clone (src/vcenter), then the arithmetic of src/domain/space.ts.
 */
import type { CloneRepository } from '../../db/repositories/clones.js'
import { measuredGroupSpace, totalSpace, type GroupSpace, type SpaceTotal } from '../../domain/space.js'
import type { VcenterGateway } from '../../vcenter/gateway.js'
import type { TeamFilter } from '../../domain/teams.js'
import { forClient } from '../../vcenter/client-errors.js'

export interface ParentSpace extends GroupSpace {
  moref: string
  /** Clones found to be full copies (linked: false), each counted as a thin full copy. */
  fullClones: number
}

export interface SpaceReport {
  /** When vCenter was read. */
  measuredAt: string
  /** GB are 2^30 bytes, as the vSphere Client counts them. */
  unit: 'GB'
  /** Per parent with at least one clone in vCenter, by name. */
  parents: ParentSpace[]
  total: SpaceTotal
  /** Clones recorded as live that vCenter no longer has: not counted. */
  missingClones: number
}

export class SpaceReporter {
  constructor(
    private readonly clones: CloneRepository,
    private readonly vcenter: VcenterGateway,
  ) {}

  /** The parents and live clones of these teams (a caller's: another team's clones are not counted). */
  async measure(teams: TeamFilter): Promise<SpaceReport> {
    const rows = await this.clones.liveVmsWithParent(teams)
    const byParent = new Map<string, { name: string; clones: string[] }>()
    const linked = new Map(rows.map((r) => [r.moref, r.linked]))
    for (const row of rows) {
      const group = byParent.get(row.parentMoref) ?? { name: row.parentName, clones: [] }
      group.clones.push(row.moref)
      byParent.set(row.parentMoref, group)
    }

    const measuredAt = new Date()
    const storage = await forClient(this.vcenter.readStorage([...byParent.keys(), ...rows.map((r) => r.moref)]))
    const found = new Map(storage.map((s) => [s.moref, s]))

    let missingClones = 0
    const parents: ParentSpace[] = []
    for (const [moref, group] of byParent) {
      const present = group.clones.flatMap((c) => found.get(c) ?? [])
      missingClones += group.clones.length - present.length
      if (present.length === 0) continue
      const parent = found.get(moref)
      parents.push({
        moref,
        ...measuredGroupSpace({
          name: parent?.name ?? group.name,
          parentUsedBytes: parent?.committedBytes ?? 0,
          clones: present.map((c) => ({ capacityBytes: c.diskCapacityBytes, unsharedBytes: c.unsharedBytes, linked: linked.get(c.moref) })),
        }),
      })
    }
    parents.sort((a, b) => a.name.localeCompare(b.name))
    return { measuredAt: measuredAt.toISOString(), unit: 'GB', parents, total: totalSpace(parents), missingClones }
  }
}
