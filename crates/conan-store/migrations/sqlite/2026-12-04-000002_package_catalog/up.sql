-- The package catalog (GitLab's Packages API), SQLite. Keep in step with
-- ../../postgres/<same name>/up.sql.
-- When a file of the recipe was last downloaded: written in batches by each node's download
-- recorder, never on the download itself, so it may be behind by the recorder's interval.
ALTER TABLE recipes ADD COLUMN last_downloaded_at BIGINT;
-- Whether the recipe has a committed revision (what a listing shows), kept by the triggers
-- below in the transaction that commits, inserts or deletes a revision, so that listing and
-- counting a project's recipes read one index instead of probing every recipe's revisions.
ALTER TABLE recipes ADD COLUMN committed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE recipes SET committed = EXISTS (
    SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
);

CREATE TRIGGER recipe_revisions_committed_insert AFTER INSERT ON recipe_revisions
WHEN NEW.committed_at IS NOT NULL
BEGIN
    UPDATE recipes SET committed = TRUE WHERE id = NEW.recipe_id AND NOT committed;
END;

CREATE TRIGGER recipe_revisions_committed_update AFTER UPDATE OF committed_at, recipe_id ON recipe_revisions
BEGIN
    UPDATE recipes SET committed = EXISTS (
        SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
    ) WHERE id IN (NEW.recipe_id, OLD.recipe_id);
END;

CREATE TRIGGER recipe_revisions_committed_delete AFTER DELETE ON recipe_revisions
WHEN OLD.committed_at IS NOT NULL
BEGIN
    UPDATE recipes SET committed = EXISTS (
        SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
    ) WHERE id = OLD.recipe_id;
END;

-- Listings page through a project's listed recipes in creation, name or version order, with the
-- id as the tie-breaker: these indexes serve the filter, the order, the offset and the count,
-- and carry the name, so that a name search reads the index alone.
CREATE INDEX recipes_project_created ON recipes (project_id, committed, created_at, id, name);
CREATE INDEX recipes_project_name ON recipes (project_id, committed, name, id);
CREATE INDEX recipes_project_version ON recipes (project_id, committed, version, id, name);
