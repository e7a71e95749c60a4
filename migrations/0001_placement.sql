ALTER TABLE "clones" ADD COLUMN "reported_host_moref" text;--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "datastore_moref" text;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "host_limit" integer DEFAULT 8 NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "max_concurrent" integer;