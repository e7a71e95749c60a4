/**
 * Teams: their quotas (team_quotas, set by an admin) and their usage, read from the clones. The
 * quota check of a new deployment runs in the transaction that records it (deployments.ts create),
 * under the team's transaction lock: concurrent requests of a team, on any replica, are counted one
 * after the other, each seeing the clones the ones before it committed.
 */
import { sql } from 'drizzle-orm'
import { CLONE_DELTA_ESTIMATE_GB } from '../../domain/space.js'
import { NO_QUOTA, type Quota, type QuotaUsage } from '../../domain/quota.js'
import type { TeamFilter } from '../../domain/teams.js'
import type { Database } from '../database.js'
import type { JobTransaction } from '../job-transaction.js'
import { teamQuotas, type TeamQuotaRow } from '../schema.js'
import { TEAM_LOCK_SCOPE, xactLock } from './locks.js'
import { teamParameter } from './team-filter.js'

type Sql = Pick<JobTransaction, 'query'>

/**
 * A team's usage: its clones accepted and not failed or destroyed (pending, waiting, cloning... all
 * count), except a rebuild's replacement while the clone it replaces is still live (one for one: the
 * pair counts once). GB: each clone's recorded provisioned_gb (older ones: the delta estimate).
 */
const USAGE_SQL = `
  SELECT count(*)::int AS clones, coalesce(sum(coalesce(c.provisioned_gb, $2::numeric)), 0)::float8 AS gb
    FROM clones c
   WHERE c.team = $1 AND c.status NOT IN ('failed', 'destroyed')
     AND NOT EXISTS (SELECT 1 FROM clones r WHERE r.id = c.replaces_clone_id AND r.status NOT IN ('failed', 'destroyed'))`

async function readUsage(db: Sql, team: string): Promise<QuotaUsage> {
  const { rows } = await db.query(USAGE_SQL, [team, CLONE_DELTA_ESTIMATE_GB])
  const row = rows[0] as { clones: number; gb: number }
  return { clones: row.clones, provisionedGB: row.gb }
}

async function readQuota(db: Sql, team: string): Promise<Quota> {
  const { rows } = await db.query('SELECT max_clones, max_provisioned_gb::float8 AS max_gb FROM team_quotas WHERE team = $1', [team])
  const row = rows[0] as { max_clones: number | null; max_gb: number | null } | undefined
  return row ? { maxClones: row.max_clones, maxProvisionedGB: row.max_gb } : NO_QUOTA
}

/**
 * Takes the team's lock for the rest of the transaction `tx` (waiting for another request of the
 * team to commit), then reads its quota and its usage. Only in a short transaction that calls no
 * vCenter: a deployment's record.
 */
export async function lockedQuotaAndUsage(tx: Sql, team: string): Promise<{ quota: Quota; usage: QuotaUsage }> {
  await xactLock(tx, TEAM_LOCK_SCOPE, team)
  return { quota: await readQuota(tx, team), usage: await readUsage(tx, team) }
}

export class TeamRepository {
  constructor(private readonly database: Database) {}

  private get pool(): Sql {
    return { query: (text, values) => this.database.pool.query(text, values) }
  }

  async quota(team: string): Promise<TeamQuotaRow | undefined> {
    const [row] = await this.database.db.select().from(teamQuotas).where(sql`${teamQuotas.team} = ${team}`)
    return row
  }

  /**
   * Sets both limits (null: no limit; an omitted one keeps its value, none at first). Under the team's
   * lock, so that a deployment being recorded is checked against the old quota or the new, whole.
   */
  async setQuota(team: string, quota: Partial<Quota>, updatedBy: string): Promise<TeamQuotaRow> {
    const client = await this.database.pool.connect()
    try {
      await client.query('BEGIN')
      await xactLock(client, TEAM_LOCK_SCOPE, team)
      const { rows } = await client.query(
        `INSERT INTO team_quotas (team, max_clones, max_provisioned_gb, updated_by)
              VALUES ($1, $2, $3, $4)
         ON CONFLICT (team) DO UPDATE
                 SET max_clones = CASE WHEN $5 THEN EXCLUDED.max_clones ELSE team_quotas.max_clones END,
                     max_provisioned_gb = CASE WHEN $6 THEN EXCLUDED.max_provisioned_gb ELSE team_quotas.max_provisioned_gb END,
                     updated_by = EXCLUDED.updated_by, updated_at = now()
           RETURNING team, max_clones AS "maxClones", max_provisioned_gb::float8 AS "maxProvisionedGB",
                     updated_by AS "updatedBy", created_at AS "createdAt", updated_at AS "updatedAt"`,
        [team, quota.maxClones ?? null, quota.maxProvisionedGB ?? null, updatedBy, quota.maxClones !== undefined, quota.maxProvisionedGB !== undefined],
      )
      await client.query('COMMIT')
      return rows[0] as TeamQuotaRow
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }

  usage(team: string): Promise<QuotaUsage> {
    return readUsage(this.pool, team)
  }

  /** Whether the service knows the team: a quota, or any deployment or pool of it. */
  async known(team: string): Promise<boolean> {
    const { rows } = await this.database.pool.query(
      `SELECT EXISTS (SELECT 1 FROM team_quotas WHERE team = $1)
           OR EXISTS (SELECT 1 FROM deployments WHERE team = $1)
           OR EXISTS (SELECT 1 FROM pools WHERE team = $1) AS known`,
      [team],
    )
    return (rows[0] as { known: boolean }).known
  }

  /** The known teams the filter sees (those with a quota, deployments or pools), by name. */
  async names(filter: TeamFilter): Promise<string[]> {
    const { rows } = await this.database.pool.query(
      `SELECT team FROM (SELECT team FROM team_quotas UNION SELECT team FROM deployments UNION SELECT team FROM pools) t
        WHERE $1::text[] IS NULL OR team = ANY($1::text[])
        ORDER BY team`,
      [teamParameter(filter)],
    )
    return rows.map((r: { team: string }) => r.team)
  }
}
