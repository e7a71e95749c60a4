CREATE TABLE "attribute_history" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"clone_id" uuid NOT NULL,
	"at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"event" text NOT NULL,
	"source" text NOT NULL,
	"actor" text NOT NULL,
	"deployment_id" uuid,
	"name" text,
	"secret" boolean DEFAULT false NOT NULL,
	"old_value" text,
	"new_value" text,
	"old_sealed" text,
	"new_sealed" text,
	"key_id" text
);
--> statement-breakpoint
ALTER TABLE "clone_attributes" ALTER COLUMN "value" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD COLUMN "id" uuid DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD COLUMN "sealed_value" text;--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "snapshot_created_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "attribute_history" ADD CONSTRAINT "attribute_history_clone_id_clones_id_fk" FOREIGN KEY ("clone_id") REFERENCES "public"."clones"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attribute_history" ADD CONSTRAINT "attribute_history_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "attribute_history_clone_idx" ON "attribute_history" USING btree ("clone_id","seq");--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD CONSTRAINT "clone_attributes_id_unique" UNIQUE("id");--> statement-breakpoint
ALTER TABLE "clone_attributes" ADD CONSTRAINT "clone_attributes_one_value" CHECK (("clone_attributes"."value" IS NULL) <> ("clone_attributes"."sealed_value" IS NULL));