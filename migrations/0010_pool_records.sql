-- A pool's record survives it: a new pool under a stripped pool's name is a new row (keyed by an id),
-- its deployments name their pool's row, and pools and preparations are never deleted.
ALTER TABLE "pools" DROP CONSTRAINT "pools_pkey";--> statement-breakpoint
-- Every existing pool gets its own id (a volatile default fills each row).
ALTER TABLE "pools" ADD COLUMN "id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "pool_id" uuid;--> statement-breakpoint
-- Backfill: until now one row held a name, so a deployment's pool is the row of its pool_name.
UPDATE "deployments" SET "pool_id" = "pools"."id" FROM "pools" WHERE "pools"."name" = "deployments"."pool_name";--> statement-breakpoint
DROP INDEX "deployments_pool_idx";--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_pool_id_pools_id_fk" FOREIGN KEY ("pool_id") REFERENCES "public"."pools"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "pools_current_name_idx" ON "pools" USING btree ("name") WHERE status <> 'stripped';--> statement-breakpoint
CREATE INDEX "pools_name_idx" ON "pools" USING btree ("name","created_at");--> statement-breakpoint
CREATE INDEX "deployments_pool_idx" ON "deployments" USING btree ("pool_id","created_at");--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_pool_named" CHECK (("deployments"."pool_id" IS NULL) = ("deployments"."pool_name" IS NULL));--> statement-breakpoint
-- As deployments, clones and the history (0004): a pool's or a preparation's row is never deleted.
CREATE TRIGGER pools_never_deleted BEFORE DELETE OR TRUNCATE ON pools
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_deletion();--> statement-breakpoint
CREATE TRIGGER parent_preparations_never_deleted BEFORE DELETE OR TRUNCATE ON parent_preparations
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_deletion();
