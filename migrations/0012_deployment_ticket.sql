-- Correlation: deployments found by their ticket (GET /v1/deployments?ticket=), newest first; a
-- parent's preparation records the ticket it was asked for.
CREATE INDEX "deployments_ticket_idx" ON "deployments" USING btree ("ticket","created_at");--> statement-breakpoint
ALTER TABLE "parent_preparations" ADD COLUMN "ticket" text;
