-- Provenance outlives the VMs: deployments, clones and the attributes' history are never deleted.
-- A deleted or truncated row here is refused by the database itself, whoever asks.
CREATE OR REPLACE FUNCTION refuse_record_deletion() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never deleted: they are the provenance of the clones', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER deployments_never_deleted BEFORE DELETE OR TRUNCATE ON deployments
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_deletion();
--> statement-breakpoint
CREATE TRIGGER clones_never_deleted BEFORE DELETE OR TRUNCATE ON clones
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_deletion();
--> statement-breakpoint
CREATE TRIGGER attribute_history_never_deleted BEFORE DELETE OR TRUNCATE ON attribute_history
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_record_deletion();
