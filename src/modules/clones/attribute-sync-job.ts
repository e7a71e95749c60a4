/**
 * The scheduled attribute sync from vCenter (ATTRIBUTE_SYNC_MINUTES; `stately`: at most one queued and
 * one running across replicas; queue QUEUES.attributeSync in src/jobs/queues.ts). The sync itself is
 * attribute-sync.ts, also run on demand.
 */

/** What the job needs of the sync (AttributeSync.run). */
export interface AttributeSyncRunner {
  run(): Promise<unknown>
}

/** The handler of the sync's queue. */
export function attributeSyncJob(sync: AttributeSyncRunner) {
  return async (): Promise<void> => {
    await sync.run()
  }
}
