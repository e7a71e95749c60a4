-- Progress events of strip backs and scale downs: a clone being destroyed belongs, for its
-- subscribers, to the deployment that destroys it (as GET /v1/deployments/{id} shows it) as well as
-- to the one that made it. Rebuilds (refresh, recompose) show the clones they make, not those they
-- destroy, so only the destroying kinds are published.
CREATE OR REPLACE FUNCTION notify_clone_progress() RETURNS trigger AS $$
DECLARE
  event jsonb := jsonb_build_object(
    'deploymentId', NEW.deployment_id,
    'cloneId', NEW.id,
    'name', NEW.name,
    'status', NEW.status,
    'moref', NEW.moref,
    'error', NEW.error,
    'at', now()
  );
BEGIN
  PERFORM pg_notify('clone_progress', event::text);
  IF NEW.destroy_deployment_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM deployments WHERE id = NEW.destroy_deployment_id AND kind IN ('scale-down', 'strip')
  ) THEN
    PERFORM pg_notify('clone_progress', jsonb_set(event, '{deploymentId}', to_jsonb(NEW.destroy_deployment_id))::text);
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
