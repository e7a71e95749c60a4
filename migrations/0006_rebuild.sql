DROP INDEX "clones_live_name_idx";--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "replaces_clone_id" uuid;--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "snapshot_name" text;--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "snapshot_moref" text;--> statement-breakpoint
ALTER TABLE "clones" ADD CONSTRAINT "clones_replaces_clone_id_clones_id_fk" FOREIGN KEY ("replaces_clone_id") REFERENCES "public"."clones"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "clones_replaces_idx" ON "clones" USING btree ("replaces_clone_id") WHERE status <> 'failed';--> statement-breakpoint
CREATE UNIQUE INDEX "clones_live_name_idx" ON "clones" USING btree ("name") WHERE status NOT IN ('failed', 'destroyed', 'waiting');--> statement-breakpoint
UPDATE "pools" p SET "snapshot_name" = d."snapshot_name", "snapshot_moref" = d."snapshot_moref"
  FROM (SELECT DISTINCT ON ("pool_name") "pool_name", "snapshot_name", "snapshot_moref" FROM "deployments"
         WHERE "pool_name" IS NOT NULL AND "kind" = 'deploy' ORDER BY "pool_name", "created_at" DESC) d
 WHERE d."pool_name" = p."name" AND p."snapshot_moref" IS NULL;
