-- Teams (issue 13): every pool, deployment, preparation, clone record, webhook subscription and event
-- belongs to one team. Records made before teams existed belong to the personal team of their
-- requester ('user:' || sub), so nothing is orphaned. Quotas per team, and the audit of every write.
ALTER TABLE "deployments" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "deployments" SET "team" = 'user:' || "requester";--> statement-breakpoint
ALTER TABLE "deployments" ALTER COLUMN "team" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "deployments_team_idx" ON "deployments" USING btree ("team","created_at");--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "clones" SET "team" = d."team" FROM "deployments" d WHERE d."id" = "clones"."deployment_id";--> statement-breakpoint
ALTER TABLE "clones" ALTER COLUMN "team" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "clones_team_idx" ON "clones" USING btree ("team","status");--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "pools" SET "team" = 'user:' || "requester";--> statement-breakpoint
ALTER TABLE "pools" ALTER COLUMN "team" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "pools_team_idx" ON "pools" USING btree ("team","name");--> statement-breakpoint
ALTER TABLE "parent_preparations" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "parent_preparations" SET "team" = 'user:' || "requester";--> statement-breakpoint
ALTER TABLE "parent_preparations" ALTER COLUMN "team" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "webhook_subscriptions" SET "team" = 'user:' || "owner_sub";--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ALTER COLUMN "team" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "webhook_subscriptions_team_idx" ON "webhook_subscriptions" USING btree ("team","created_at");--> statement-breakpoint
-- An event's team: only that team's subscriptions (and admins') receive it. Null for events of before.
ALTER TABLE "webhook_events" ADD COLUMN "team" text;--> statement-breakpoint
UPDATE "webhook_events" SET "team" = 'user:' || "requester" WHERE "requester" IS NOT NULL;--> statement-breakpoint
-- A team's quota, set by an admin; a null limit is no limit.
CREATE TABLE "team_quotas" (
	"team" text PRIMARY KEY NOT NULL,
	"max_clones" integer,
	"max_provisioned_gb" numeric(12, 1),
	"updated_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "team_quotas_max_clones_check" CHECK ("max_clones" IS NULL OR "max_clones" >= 0),
	CONSTRAINT "team_quotas_max_gb_check" CHECK ("max_provisioned_gb" IS NULL OR "max_provisioned_gb" >= 0)
);--> statement-breakpoint
-- Every write, accepted or refused for authorization: who, which team, which scope, what, the outcome.
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"sub" text,
	"team" text,
	"scope" text,
	"operation" text NOT NULL,
	"object_type" text,
	"object_id" text,
	"outcome" text NOT NULL,
	"status_code" integer,
	"error_code" text,
	"request_id" text,
	"ticket" text,
	"details" jsonb
);--> statement-breakpoint
CREATE INDEX "audit_events_at_idx" ON "audit_events" USING btree ("at","id");--> statement-breakpoint
CREATE INDEX "audit_events_team_idx" ON "audit_events" USING btree ("team","at");--> statement-breakpoint
CREATE INDEX "audit_events_sub_idx" ON "audit_events" USING btree ("sub","at");--> statement-breakpoint
CREATE INDEX "audit_events_object_idx" ON "audit_events" USING btree ("object_type","object_id","at");--> statement-breakpoint
-- Like the provenance: the audit is never changed nor deleted, whoever asks.
CREATE OR REPLACE FUNCTION refuse_audit_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never changed nor deleted: they are the audit', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;--> statement-breakpoint
CREATE TRIGGER audit_events_never_changed BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
