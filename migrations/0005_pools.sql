CREATE TABLE "pools" (
	"name" text PRIMARY KEY NOT NULL,
	"parent_name" text NOT NULL,
	"prefix" text NOT NULL,
	"start_number" integer NOT NULL,
	"size" integer NOT NULL,
	"copied_attributes" jsonb,
	"customization_attribute" text,
	"host_limit" integer,
	"expires_at" timestamp with time zone,
	"status" text DEFAULT 'active' NOT NULL,
	"requester" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "clones_live_name_idx";--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "destroy_deployment_id" uuid;--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "destroyed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "kind" text DEFAULT 'deploy' NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "pool_name" text;--> statement-breakpoint
ALTER TABLE "clones" ADD CONSTRAINT "clones_destroy_deployment_id_deployments_id_fk" FOREIGN KEY ("destroy_deployment_id") REFERENCES "public"."deployments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "clones_destroy_deployment_idx" ON "clones" USING btree ("destroy_deployment_id");--> statement-breakpoint
CREATE INDEX "deployments_pool_idx" ON "deployments" USING btree ("pool_name");--> statement-breakpoint
CREATE UNIQUE INDEX "clones_live_name_idx" ON "clones" USING btree ("name") WHERE status NOT IN ('failed', 'destroyed');