-- Progress events for subscribers in any replica: every change of a clone's status or a
-- deployment's status is published on a PostgreSQL channel (LISTEN/NOTIFY), so that a client
-- subscribed to one replica sees the work done by another.
CREATE OR REPLACE FUNCTION notify_clone_progress() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('clone_progress', json_build_object(
    'deploymentId', NEW.deployment_id,
    'cloneId', NEW.id,
    'name', NEW.name,
    'status', NEW.status,
    'moref', NEW.moref,
    'error', NEW.error,
    'at', now()
  )::text);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER clones_progress_notify
  AFTER INSERT OR UPDATE OF status ON clones
  FOR EACH ROW EXECUTE FUNCTION notify_clone_progress();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION notify_deployment_progress() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('deployment_progress', json_build_object(
    'deploymentId', NEW.id,
    'status', NEW.status,
    'error', NEW.error,
    'at', now()
  )::text);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER deployments_progress_notify
  AFTER UPDATE OF status ON deployments
  FOR EACH ROW EXECUTE FUNCTION notify_deployment_progress();
