import t from 'tap'
import { MAX_CUSTOMIZATION_TIMEOUT_MINUTES } from '../../src/domain/guest.js'
import { PROVISION_EXPIRY } from '../../src/jobs/queues.js'

t.test("a clone job's expiry covers its longest guest wait and stays within pg-boss's 24 hours", async (t) => {
  t.ok(PROVISION_EXPIRY.expireInSeconds > MAX_CUSTOMIZATION_TIMEOUT_MINUTES * 60, 'longer than the longest guest wait')
  t.ok(PROVISION_EXPIRY.expireInSeconds < 24 * 60 * 60, 'pg-boss refuses a queue whose expiry exceeds 24 hours')
})
