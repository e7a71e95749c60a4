-- Whether the clone's disks were found to back onto its snapshot's disk after CloneVM_Task (true),
-- or it was found to be a full copy (false, a silent full clone); null until checked.
ALTER TABLE "clones" ADD COLUMN "linked" boolean;
