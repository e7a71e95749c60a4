-- What each clone counts against its team's provisioned-GB quota (src/domain/quota.ts): its linked
-- delta estimate plus a swap file of its parent's memory. Null for clones recorded before quotas:
-- counted as the delta estimate alone (their parent's memory was not recorded).
ALTER TABLE "clones" ADD COLUMN "provisioned_gb" numeric(12, 2);
