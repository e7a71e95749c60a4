-- The X-Request-Id of the request that caused a deployment or a parent preparation (null for work
-- the service started itself, e.g. a pool's expiry): shown on them and carried in their webhooks.
ALTER TABLE "deployments" ADD COLUMN "request_id" text;--> statement-breakpoint
ALTER TABLE "parent_preparations" ADD COLUMN "request_id" text;--> statement-breakpoint
CREATE INDEX "deployments_request_id_idx" ON "deployments" USING btree ("request_id");
