/**
 * The service's records: deployments, the clones they make, each clone's steps (with the vCenter task
 * that ran it) and the clone's custom attributes. Provenance (who asked, which ticket, which parent
 * and snapshot) is kept on the deployment and on each clone, and outlives the VM.
 */
import { sql } from 'drizzle-orm'
import {
  bigserial,
  boolean,
  check,
  numeric,
  index,
  type AnyPgColumn,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'
import type { AttributeValue } from '../domain/attributes.js'
import type { PoolDrift } from '../domain/drift.js'
import type { CloneStatus, DeploymentKind, DeploymentStatus } from '../domain/progress.js'
import type { Warning } from '../domain/plan.js'
import type { GuestRecord } from '../domain/guest.js'

// The integrations' tables (idempotency keys, webhooks) live in their own file; one schema for drizzle.
export * from './schema-integrations.js'

/**
 * A value of deployments.attribute_values: plain, or (a secret) sealed with the deployment's id and
 * the attribute's name as associated data (src/db/repositories/attributes.ts).
 */
export type StoredAttributeValue = AttributeValue | { name: string; sealed: string; keyId: string }

export interface RecordedError {
  code: string
  message: string
  /** The vSphere fault type when vCenter refused, e.g. "DuplicateName". */
  faultType?: string
}

import { timestamps } from './columns.js'

export const deployments = pgTable(
  'deployments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    status: text('status').$type<DeploymentStatus>().notNull().default('queued'),
    requester: text('requester').notNull(),
    /** The team that owns it (domain/teams.ts): only its members (and admins) see or change it. */
    team: text('team').notNull(),
    ticket: text('ticket'),
    /** The X-Request-Id of the request that caused it (null: started by the service itself). */
    requestId: text('request_id'),
    parentName: text('parent_name').notNull(),
    parentMoref: text('parent_moref').notNull(),
    parentInstanceUuid: text('parent_instance_uuid'),
    snapshotName: text('snapshot_name').notNull(),
    snapshotMoref: text('snapshot_moref').notNull(),
    /** When the snapshot the clones were made from was taken (provenance). */
    snapshotCreatedAt: timestamp('snapshot_created_at', { withTimezone: true }),
    folderMoref: text('folder_moref').notNull(),
    resourcePoolMoref: text('resource_pool_moref'),
    prefix: text('prefix').notNull(),
    startNumber: integer('start_number').notNull(),
    count: integer('count').notNull(),
    customizationAttribute: text('customization_attribute').notNull(),
    customizationSpec: text('customization_spec').notNull(),
    /** Clones of one parent go on at most this many hosts (VMFS: 8 before VMFS5, 32 on VMFS5/NFS). */
    hostLimit: integer('host_limit').notNull().default(8),
    /** Operations of this deployment at once, below the vCenter-wide limit; null: no own limit. */
    maxConcurrent: integer('max_concurrent'),
    copiedAttributes: jsonb('copied_attributes').$type<string[]>().notNull(),
    /** The parent's values at request time, Template included: what every clone receives. Secrets sealed. */
    attributeValues: jsonb('attribute_values').$type<StoredAttributeValue[]>().notNull(),
    /** Minutes each clone waits for its guest's customization; null: CUSTOMIZATION_TIMEOUT_MINUTES. */
    customizationTimeoutMinutes: integer('customization_timeout_minutes'),
    warnings: jsonb('warnings').$type<Warning[]>().notNull().default([]),
    /** What the deployment does: make clones, or destroy a pool's clones (strip back, scale down). */
    kind: text('kind').$type<DeploymentKind>().notNull().default('deploy'),
    /** The pool this deployment changes (its name then); null for a one-off deployment. */
    poolName: text('pool_name'),
    /**
     * The pool's record: a name is used again by a new pool once the old one is stripped, and each
     * pool's deployments stay with their own record. Null exactly when pool_name is.
     */
    poolId: uuid('pool_id').references((): AnyPgColumn => pools.id),
    error: jsonb('error').$type<RecordedError>(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    index('deployments_created_at_idx').on(t.createdAt),
    index('deployments_pool_idx').on(t.poolId, t.createdAt),
    check('deployments_pool_named', sql`(${t.poolId} IS NULL) = (${t.poolName} IS NULL)`),
    // Which live clones use a parent's snapshot (modules/parents/parent-service.ts).
    index('deployments_snapshot_idx').on(t.parentMoref, t.snapshotMoref),
    index('deployments_ticket_idx').on(t.ticket, t.createdAt),
    index('deployments_team_idx').on(t.team, t.createdAt),
    index('deployments_request_id_idx').on(t.requestId),
  ],
)

export const clones = pgTable(
  'clones',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deploymentId: uuid('deployment_id')
      .notNull()
      .references(() => deployments.id),
    name: text('name').notNull(),
    /** Its deployment's team, kept on the clone so that lists filter without a join. */
    team: text('team').notNull(),
    number: integer('number').notNull(),
    status: text('status').$type<CloneStatus>().notNull().default('pending'),
    /** Chosen and recorded before CloneVM_Task, so an unknown outcome can be settled by looking it up. */
    instanceUuid: uuid('instance_uuid').notNull(),
    moref: text('moref'),
    /** The vCenter task of the step in progress, recorded as soon as vCenter returns it. */
    taskMoref: text('task_moref'),
    /** The host we placed the clone on. */
    hostMoref: text('host_moref'),
    /** The host vCenter reports the clone on (DRS may move it; the simulator ignores our choice). */
    reportedHostMoref: text('reported_host_moref'),
    datastoreMoref: text('datastore_moref'),
    /**
     * Checked after CloneVM_Task: true when every disk's backing chain reaches a file of the
     * deployment's snapshot, false for a full copy (a silent full clone); null until checked.
     */
    linked: boolean('linked'),
    /** When the wait for the guest's customization began (just before power-on): events are read from then. */
    guestWaitSince: timestamp('guest_wait_since', { withTimezone: true }),
    /** The guest customization's outcome and the guest's host name and IPs, once known. */
    guest: jsonb('guest').$type<GuestRecord>(),
    error: jsonb('error').$type<RecordedError>(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    /** The deployment (strip back, scale down) that destroys this clone; its record is kept. */
    destroyDeploymentId: uuid('destroy_deployment_id').references(() => deployments.id),
    destroyedAt: timestamp('destroyed_at', { withTimezone: true }),
    /**
     * The clone this one replaces (refresh, recompose): destroyed by this clone's job before it is
     * made under the same name and number. Both records are kept, linked by this column.
     */
    replacesCloneId: uuid('replaces_clone_id').references((): AnyPgColumn => clones.id),
    /**
     * What it counts against its team's provisioned-GB quota (domain/quota.ts): its delta estimate plus
     * a swap file of its parent's memory. Null for clones recorded before quotas (the delta estimate).
     */
    provisionedGB: numeric('provisioned_gb', { precision: 12, scale: 2, mode: 'number' }),
    /**
     * The list order (migrations/0019): the name without its trailing digits (collation "C") and those
     * digits as a number (null without any): Capture2 before Capture10. Computed by PostgreSQL.
     */
    namePrefix: text('name_prefix').notNull().generatedAlwaysAs(sql`regexp_replace(name, '[0-9]+$', '')`),
    nameNumber: integer('name_number').generatedAlwaysAs(
      sql`CASE WHEN name ~ '(^|[^0-9])[0-9]{1,9}$' THEN substring(name from '[0-9]+$')::integer END`,
    ),
    ...timestamps,
  },
  (t) => [
    // A name is held by one live clone at a time; a failed or destroyed clone leaves its name free,
    // and a replacement takes it (waiting -> pending) in the transaction that marks the old one destroyed.
    uniqueIndex('clones_live_name_idx').on(t.name).where(sql`status NOT IN ('failed', 'destroyed', 'waiting')`),
    // A clone is replaced by at most one clone that has not failed.
    uniqueIndex('clones_replaces_idx').on(t.replacesCloneId).where(sql`status <> 'failed'`),
    index('clones_destroy_deployment_idx').on(t.destroyDeploymentId),
    // Every plan counts the clones still to come on its datastore; the table keeps every clone ever made.
    index('clones_not_yet_powered_on_idx')
      .on(t.datastoreMoref)
      .where(sql`status IN ('waiting', 'pending', 'cloning', 'customizing', 'powering_on')`),
    index('clones_deployment_idx').on(t.deploymentId),
    index('clones_name_idx').on(t.name),
    index('clones_list_order_idx').on(t.namePrefix, t.nameNumber, t.name, t.id),
    index('clones_team_list_order_idx').on(t.team, t.namePrefix, t.nameNumber, t.name, t.id),
  ],
)

export const cloneSteps = pgTable(
  'clone_steps',
  {
    id: serial('id').primaryKey(),
    cloneId: uuid('clone_id')
      .notNull()
      .references(() => clones.id),
    step: text('step').$type<CloneStatus>().notNull(),
    taskMoref: text('task_moref'),
    outcome: text('outcome').$type<'succeeded' | 'failed' | 'skipped'>().notNull(),
    detail: text('detail'),
    error: jsonb('error').$type<RecordedError>(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('clone_steps_clone_idx').on(t.cloneId)],
)

/**
 * Each clone's current custom attributes (the asset database). A secret's value is sealed
 * (AES-256-GCM, the row's id and the name as associated data) and `value` is null; the history of
 * every change is in attribute_history. Written only through src/db/repositories/attributes.ts.
 */
export const cloneAttributes = pgTable(
  'clone_attributes',
  {
    /** Bound into a sealed value as associated data. */
    id: uuid('id').notNull().defaultRandom().unique(),
    cloneId: uuid('clone_id')
      .notNull()
      .references(() => clones.id),
    name: text('name').notNull(),
    /** The value in plain text; null for a secret. */
    value: text('value'),
    /** A secret's value: base64url(iv | ciphertext | tag). */
    sealedValue: text('sealed_value'),
    /** Which key sealed it (a fingerprint of SECRETS_KEY), for rotation. */
    keyId: text('key_id'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.cloneId, t.name] }),
    check('clone_attributes_one_value', sql`(${t.value} IS NULL) <> (${t.sealedValue} IS NULL)`),
  ],
)

export type HistoryEvent = 'set' | 'reveal' | 'vanished' | 'reappeared'
export type HistorySource = 'deployment' | 'user' | 'vcenter'

/**
 * Every change of a clone's attributes (who or what made it, the old and the new value), every reveal
 * of a secret, and the clone's disappearance from vCenter. Append-only: rows are never deleted (a
 * trigger refuses it), and only re-sealing with a new key updates them.
 */
export const attributeHistory = pgTable(
  'attribute_history',
  {
    /** Set by the store before sealing: bound into sealed values as associated data. */
    id: uuid('id').primaryKey(),
    /** Insertion order. */
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    cloneId: uuid('clone_id')
      .notNull()
      .references(() => clones.id),
    at: timestamp('at', { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
    event: text('event').$type<HistoryEvent>().notNull(),
    source: text('source').$type<HistorySource>().notNull(),
    /** A user's `sub`, a deployment's id, or the sync job. */
    actor: text('actor').notNull(),
    deploymentId: uuid('deployment_id').references(() => deployments.id),
    /** The attribute; null for events of the whole clone (vanished). */
    name: text('name'),
    secret: boolean('secret').notNull().default(false),
    /** Plain values (null when absent, or for a secret). */
    oldValue: text('old_value'),
    newValue: text('new_value'),
    /** A secret's values, sealed with role "old" / "new". */
    oldSealed: text('old_sealed'),
    newSealed: text('new_sealed'),
    keyId: text('key_id'),
  },
  (t) => [index('attribute_history_clone_idx').on(t.cloneId, t.seq)],
)

/**
 * A pool: the named desired state of a group of clones of one parent. Its clones are those of its
 * deployments (deployments.pool_id); changes run as deployments (deploy, scale-down, strip). Rows are
 * never deleted (a trigger refuses it): a stripped pool keeps its record, and a new pool under its
 * name is a new record (one pool of a name is not stripped at a time).
 */
export const pools = pgTable(
  'pools',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    parentName: text('parent_name').notNull(),
    /**
     * The parent's snapshot the pool's clones are made from (scale ups, refreshes), recorded at creation
     * and moved by a recompose; null (pools of before) uses the parent's current snapshot.
     */
    snapshotName: text('snapshot_name'),
    snapshotMoref: text('snapshot_moref'),
    prefix: text('prefix').notNull(),
    startNumber: integer('start_number').notNull(),
    size: integer('size').notNull(),
    copiedAttributes: jsonb('copied_attributes').$type<string[]>(),
    customizationAttribute: text('customization_attribute'),
    hostLimit: integer('host_limit'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    /** active, or stripped (its clones destroyed; the record kept). */
    status: text('status').$type<'active' | 'stripped'>().notNull().default('active'),
    requester: text('requester').notNull(),
    team: text('team').notNull(),
    /** What the last drift check found (src/domain/drift.ts); null before the first check. */
    drift: jsonb('drift').$type<PoolDrift>(),
    driftCheckedAt: timestamp('drift_checked_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    // The current pool of a name; stripped ones keep theirs.
    uniqueIndex('pools_current_name_idx').on(t.name).where(sql`status <> 'stripped'`),
    index('pools_name_idx').on(t.name, t.createdAt),
    index('pools_team_idx').on(t.team, t.name),
  ],
)

export type PreparationStatus = 'queued' | 'running' | 'succeeded' | 'failed'

/** One step of a parent's preparation, as it happened. */
export interface PreparationStep {
  step: 'power_off' | 'snapshot' | 'recompose'
  outcome: 'succeeded' | 'skipped' | 'adopted' | 'failed'
  taskMoref?: string
  detail?: string
  /** recompose: the pool and the deployments it started. */
  pool?: string
  deploymentIds?: string[]
  error?: RecordedError
  at: string
}

/**
 * A parent's preparation: power it off and take the snapshot its clones will be made from (then,
 * if asked, recompose its pools onto it). Run by a pg-boss job; every step recorded.
 */
export const parentPreparations = pgTable(
  'parent_preparations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    parentName: text('parent_name').notNull(),
    parentMoref: text('parent_moref').notNull(),
    parentInstanceUuid: text('parent_instance_uuid'),
    snapshotName: text('snapshot_name').notNull(),
    description: text('description'),
    recompose: boolean('recompose').notNull().default(false),
    status: text('status').$type<PreparationStatus>().notNull().default('queued'),
    steps: jsonb('steps').$type<PreparationStep[]>().notNull().default([]),
    /** The CreateSnapshot_Task, recorded as soon as vCenter returns it (settles a lost answer). */
    snapshotTaskMoref: text('snapshot_task_moref'),
    snapshotMoref: text('snapshot_moref'),
    snapshotCreatedAt: timestamp('snapshot_created_at', { withTimezone: true }),
    deploymentIds: jsonb('deployment_ids').$type<string[]>().notNull().default([]),
    error: jsonb('error').$type<RecordedError>(),
    requester: text('requester').notNull(),
    team: text('team').notNull(),
    /** The external reference it was asked for, e.g. RITM0012345. */
    ticket: text('ticket'),
    /** The X-Request-Id of the request that asked for it. */
    requestId: text('request_id'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    index('parent_preparations_parent_idx').on(t.parentMoref, t.createdAt),
    // One unfinished preparation per parent at a time.
    uniqueIndex('parent_preparations_unfinished_idx').on(t.parentMoref).where(sql`finished_at IS NULL`),
  ],
)

export type PoolRow = typeof pools.$inferSelect
export type PreparationRow = typeof parentPreparations.$inferSelect
export type DeploymentRow = typeof deployments.$inferSelect
export type CloneRow = typeof clones.$inferSelect
export type CloneStepRow = typeof cloneSteps.$inferSelect
export type CloneAttributeRow = typeof cloneAttributes.$inferSelect
export type AttributeHistoryRow = typeof attributeHistory.$inferSelect


/** A team's limits, set by an admin (PUT /v1/teams/{team}/quota); a null limit is no limit. */
export const teamQuotas = pgTable(
  'team_quotas',
  {
    team: text('team').primaryKey(),
    maxClones: integer('max_clones'),
    maxProvisionedGB: numeric('max_provisioned_gb', { precision: 12, scale: 1, mode: 'number' }),
    updatedBy: text('updated_by').notNull(),
    ...timestamps,
  },
  (t) => [
    check('team_quotas_max_clones_check', sql`${t.maxClones} IS NULL OR ${t.maxClones} >= 0`),
    check('team_quotas_max_gb_check', sql`${t.maxProvisionedGB} IS NULL OR ${t.maxProvisionedGB} >= 0`),
  ],
)
export type TeamQuotaRow = typeof teamQuotas.$inferSelect

export type AuditOutcome = 'succeeded' | 'failed' | 'refused'

/**
 * Every write (REST or GraphQL), accepted or refused for authorization: when, who, which team and
 * scope, what and on which object, the outcome. A trigger refuses updates and deletes.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    sub: text('sub'),
    team: text('team'),
    scope: text('scope'),
    /** What was asked: "POST /v1/pools" or "mutation createPool". */
    operation: text('operation').notNull(),
    objectType: text('object_type'),
    objectId: text('object_id'),
    outcome: text('outcome').$type<AuditOutcome>().notNull(),
    statusCode: integer('status_code'),
    errorCode: text('error_code'),
    requestId: text('request_id'),
    ticket: text('ticket'),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('audit_events_at_idx').on(t.at, t.id),
    index('audit_events_team_idx').on(t.team, t.at),
    index('audit_events_sub_idx').on(t.sub, t.at),
    index('audit_events_object_idx').on(t.objectType, t.objectId, t.at),
  ],
)
export type AuditEventRow = typeof auditEvents.$inferSelect
