CREATE TABLE "clone_attributes" (
	"clone_id" uuid NOT NULL,
	"name" text NOT NULL,
	"value" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "clone_attributes_clone_id_name_pk" PRIMARY KEY("clone_id","name")
);
--> statement-breakpoint
CREATE TABLE "clone_steps" (
	"id" serial PRIMARY KEY NOT NULL,
	"clone_id" uuid NOT NULL,
	"step" text NOT NULL,
	"task_moref" text,
	"outcome" text NOT NULL,
	"detail" text,
	"error" jsonb,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "clones" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"deployment_id" uuid NOT NULL,
	"name" text NOT NULL,
	"number" integer NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"instance_uuid" uuid NOT NULL,
	"moref" text,
	"task_moref" text,
	"host_moref" text,
	"error" jsonb,
	"ready_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deployments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"requester" text NOT NULL,
	"ticket" text,
	"parent_name" text NOT NULL,
	"parent_moref" text NOT NULL,
	"parent_instance_uuid" text,
	"snapshot_name" text NOT NULL,
	"snapshot_moref" text NOT NULL,
	"folder_moref" text NOT NULL,
	"resource_pool_moref" text,
	"prefix" text NOT NULL,
	"start_number" integer NOT NULL,
	"count" integer NOT NULL,
	"customization_attribute" text NOT NULL,
	"customization_spec" text NOT NULL,
	"copied_attributes" jsonb NOT NULL,
	"attribute_values" jsonb NOT NULL,
	"warnings" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"error" jsonb,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD CONSTRAINT "clone_attributes_clone_id_clones_id_fk" FOREIGN KEY ("clone_id") REFERENCES "public"."clones"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clone_steps" ADD CONSTRAINT "clone_steps_clone_id_clones_id_fk" FOREIGN KEY ("clone_id") REFERENCES "public"."clones"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clones" ADD CONSTRAINT "clones_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "clone_steps_clone_idx" ON "clone_steps" USING btree ("clone_id");--> statement-breakpoint
CREATE UNIQUE INDEX "clones_live_name_idx" ON "clones" USING btree ("name") WHERE status <> 'failed';--> statement-breakpoint
CREATE INDEX "clones_deployment_idx" ON "clones" USING btree ("deployment_id");--> statement-breakpoint
CREATE INDEX "clones_name_idx" ON "clones" USING btree ("name");--> statement-breakpoint
CREATE INDEX "deployments_created_at_idx" ON "deployments" USING btree ("created_at");