-- The package catalog (GitLab's Packages API). Keep in step with ../../sqlite/<same name>/up.sql.
-- When a file of the recipe was last downloaded: written in batches by each node's download
-- recorder, never on the download itself, so it may be behind by the recorder's interval.
ALTER TABLE recipes ADD COLUMN last_downloaded_at BIGINT;
-- Listings page through a project's recipes in creation, name or version order, with the id as
-- the tie-breaker: these indexes serve the order and the offset without sorting.
CREATE INDEX recipes_project_created ON recipes (project_id, created_at, id);
CREATE INDEX recipes_project_name ON recipes (project_id, name, id);
CREATE INDEX recipes_project_version ON recipes (project_id, version, id);
