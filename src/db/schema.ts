/**
 * The service's records: deployments, the clones they make, each clone's steps (with the vCenter task
 * that ran it) and the clone's custom attributes. Provenance (who asked, which ticket, which parent
 * and snapshot) is kept on the deployment and on each clone, and outlives the VM.
 */
import { sql } from 'drizzle-orm'
import {
  index,
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
import type { CloneStatus, DeploymentStatus } from '../domain/progress.js'
import type { Warning } from '../domain/plan.js'

export interface RecordedError {
  code: string
  message: string
  /** The vSphere fault type when vCenter refused, e.g. "DuplicateName". */
  faultType?: string
}

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}

export const deployments = pgTable(
  'deployments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    status: text('status').$type<DeploymentStatus>().notNull().default('queued'),
    requester: text('requester').notNull(),
    ticket: text('ticket'),
    parentName: text('parent_name').notNull(),
    parentMoref: text('parent_moref').notNull(),
    parentInstanceUuid: text('parent_instance_uuid'),
    snapshotName: text('snapshot_name').notNull(),
    snapshotMoref: text('snapshot_moref').notNull(),
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
    /** The parent's values at request time, Template included: what every clone receives. */
    attributeValues: jsonb('attribute_values').$type<AttributeValue[]>().notNull(),
    warnings: jsonb('warnings').$type<Warning[]>().notNull().default([]),
    error: jsonb('error').$type<RecordedError>(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [index('deployments_created_at_idx').on(t.createdAt)],
)

export const clones = pgTable(
  'clones',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    deploymentId: uuid('deployment_id')
      .notNull()
      .references(() => deployments.id),
    name: text('name').notNull(),
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
    error: jsonb('error').$type<RecordedError>(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    ...timestamps,
  },
  (t) => [
    // A name is held by one live clone at a time; a failed clone leaves its name free.
    uniqueIndex('clones_live_name_idx').on(t.name).where(sql`status <> 'failed'`),
    index('clones_deployment_idx').on(t.deploymentId),
    index('clones_name_idx').on(t.name),
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

export const cloneAttributes = pgTable(
  'clone_attributes',
  {
    cloneId: uuid('clone_id')
      .notNull()
      .references(() => clones.id),
    name: text('name').notNull(),
    value: text('value').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.cloneId, t.name] })],
)

export type DeploymentRow = typeof deployments.$inferSelect
export type CloneRow = typeof clones.$inferSelect
export type CloneStepRow = typeof cloneSteps.$inferSelect
