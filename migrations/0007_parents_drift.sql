CREATE TABLE "parent_preparations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"parent_name" text NOT NULL,
	"parent_moref" text NOT NULL,
	"parent_instance_uuid" text,
	"snapshot_name" text NOT NULL,
	"description" text,
	"recompose" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"steps" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"snapshot_task_moref" text,
	"snapshot_moref" text,
	"snapshot_created_at" timestamp with time zone,
	"deployment_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" jsonb,
	"requester" text NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "drift" jsonb;--> statement-breakpoint
ALTER TABLE "pools" ADD COLUMN "drift_checked_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "parent_preparations_parent_idx" ON "parent_preparations" USING btree ("parent_moref","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "parent_preparations_unfinished_idx" ON "parent_preparations" USING btree ("parent_moref") WHERE finished_at IS NULL;--> statement-breakpoint
CREATE INDEX "deployments_snapshot_idx" ON "deployments" USING btree ("parent_moref","snapshot_moref");