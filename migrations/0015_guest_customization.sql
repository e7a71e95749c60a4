-- Guest customization, after power-on: when the clone's wait for it began (its events are read back
-- from then after a restart), its outcome and the guest's identity; and a deployment's own limit.
ALTER TABLE "clones" ADD COLUMN "guest_wait_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "guest" jsonb;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "customization_timeout_minutes" integer;
