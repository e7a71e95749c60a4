import t from 'tap'
import { destroyOwnerLockId } from '../../src/modules/pools/destroy-clone-job.js'
import { ownerLockId } from '../../src/jobs/operation-limiter.js'
import { ownershipLockId } from '../../src/jobs/ownership.js'
import { PREPARE_PARENT_QUEUE, prepareOwnerLockId } from '../../src/modules/parents/prepare-parent-job.js'
import { QUEUES } from '../../src/jobs/queues.js'
import { REAPED_QUEUES } from '../../src/jobs/reaper.js'
import { DRIFT_CHECK_QUEUE } from '../../src/modules/pools/drift-check-job.js'
import { RECONCILE_POOL_QUEUE, reconcileOwnerLockId } from '../../src/modules/pools/reconcile-pool-job.js'

const ID = '0b7e3c52-9a61-4c1e-8f0d-2a4b6c8d0e1f'
const lockFor = (queue: string, data: Record<string, unknown>) => REAPED_QUEUES.find((q) => q.queue === queue)?.lockId(data)

t.test('the reaper sweeps the clone, preparation, reconcile and webhook delivery queues, not the expiry or drift check ones', async (t) => {
  t.same(
    REAPED_QUEUES.map((q) => q.queue).sort(),
    [QUEUES.provisionClone, QUEUES.destroyClone, PREPARE_PARENT_QUEUE, RECONCILE_POOL_QUEUE, QUEUES.webhookDeliver].sort(),
  )
  t.equal(lockFor(QUEUES.expirePool, { pool: 'alpha' }), undefined)
  t.equal(lockFor(DRIFT_CHECK_QUEUE, {}), undefined)
})

t.test("each queue's job is looked up by the lock its worker holds, keyed on what the job owns", async (t) => {
  // Provisioning: the clone's lock, taken by OperationLimiter.acquire.
  t.equal(lockFor(QUEUES.provisionClone, { cloneId: ID }), ownerLockId(ID))
  // Destroy: the clone, whichever deployment destroys it.
  t.equal(lockFor(QUEUES.destroyClone, { cloneId: ID, deploymentId: 'd1' }), destroyOwnerLockId({ cloneId: ID }))
  t.equal(lockFor(QUEUES.destroyClone, { cloneId: ID, deploymentId: 'd2' }), destroyOwnerLockId({ cloneId: ID }))
  t.equal(destroyOwnerLockId({ cloneId: ID }), ownershipLockId(QUEUES.destroyClone, ID))
  // Preparation: its id. Reconcile: its deployment's id (whatever the actions).
  t.equal(lockFor(PREPARE_PARENT_QUEUE, { preparationId: ID }), prepareOwnerLockId({ preparationId: ID }))
  t.equal(lockFor(RECONCILE_POOL_QUEUE, { deploymentId: ID, actions: [] }), reconcileOwnerLockId({ deploymentId: ID }))
  t.equal(
    lockFor(RECONCILE_POOL_QUEUE, { deploymentId: ID, actions: [{ cloneId: 'c', action: 'power_on' }] }),
    reconcileOwnerLockId({ deploymentId: ID }),
  )
  // A webhook delivery: its id (the webhook-id of every attempt).
  t.equal(lockFor(QUEUES.webhookDeliver, { deliveryId: ID }), ownershipLockId(QUEUES.webhookDeliver, ID))
})

t.test('the same id owned by jobs of different kinds takes different locks', async (t) => {
  const locks = REAPED_QUEUES.map((q) => q.lockId({ cloneId: ID, preparationId: ID, deploymentId: ID, deliveryId: ID }))
  t.equal(new Set(locks).size, REAPED_QUEUES.length, 'one lock per queue')
  for (const lock of locks) t.match(lock, /^-?\d+$/, 'a 64-bit integer, as text for pg')
  for (const lock of locks) t.ok(BigInt(lock!) >= -(2n ** 63n) && BigInt(lock!) < 2n ** 63n, 'in bigint range')
  t.not(ownershipLockId(QUEUES.destroyClone, ID), ownershipLockId(QUEUES.destroyClone, '1b7e3c52-9a61-4c1e-8f0d-2a4b6c8d0e1f'))
  t.equal(ownershipLockId(QUEUES.destroyClone, ID), ownershipLockId(QUEUES.destroyClone, ID), 'stable: every replica computes the same')
})

t.test('a job whose data lacks its key is never reaped', async (t) => {
  for (const q of REAPED_QUEUES) {
    t.equal(q.lockId({}), undefined, q.queue)
    t.equal(q.lockId({ cloneId: 42, preparationId: null, deploymentId: {}, deliveryId: [] }), undefined, q.queue)
  }
})
