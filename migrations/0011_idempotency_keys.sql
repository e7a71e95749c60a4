-- Idempotency keys (Stripe's semantics): one row per caller and key, the lock while the first request
-- runs (finished_at NULL, lease until locked_until) and its answer once it has one; kept 24 hours.
CREATE TABLE "idempotency_keys" (
	"owner_sub" text NOT NULL,
	"key" text NOT NULL,
	"method" text NOT NULL,
	"path" text NOT NULL,
	"body_hash" text NOT NULL,
	"request_id" text NOT NULL,
	"holder" uuid NOT NULL,
	"locked_until" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"response_status" integer,
	"response_headers" jsonb,
	"response_body" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_owner_sub_key_pk" PRIMARY KEY("owner_sub","key")
);--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("created_at");
