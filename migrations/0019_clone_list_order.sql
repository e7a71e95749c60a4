-- Clone lists are ordered by the clone's number within its prefix (Capture2 before Capture10, and
-- Capture01 beside Capture1), then by name and id, and paged by keyset on those values. The prefix is
-- the name without its trailing digits, the number those digits (null without any, or past 9 digits:
-- they would not fit an int; such names sort after the numbered ones of their prefix, by name).
-- The prefix is in the "C" collation so that a `LIKE 'Prefix%'` on it is an index range.
ALTER TABLE "clones" ADD COLUMN "name_prefix" text COLLATE "C" GENERATED ALWAYS AS (regexp_replace("name", '[0-9]+$', '')) STORED;--> statement-breakpoint
ALTER TABLE "clones" ADD COLUMN "name_number" integer GENERATED ALWAYS AS (CASE WHEN "name" ~ '(^|[^0-9])[0-9]{1,9}$' THEN substring("name" from '[0-9]+$')::integer END) STORED;--> statement-breakpoint
-- Lists of every team's clones (admins) are read in order from the first index; a caller of one team
-- from the second (with the first, its rows would be filtered out of every team's).
CREATE INDEX "clones_list_order_idx" ON "clones" USING btree ("name_prefix", "name_number", "name", "id");--> statement-breakpoint
CREATE INDEX "clones_team_list_order_idx" ON "clones" USING btree ("team", "name_prefix", "name_number", "name", "id");
