-- The package catalog (GitLab's Packages API), PostgreSQL. Keep in step with
-- ../../sqlite/<same name>/up.sql.
-- When a file of the recipe was last downloaded: written in batches by each node's download
-- recorder, never on the download itself, so it may be behind by the recorder's interval.
ALTER TABLE recipes ADD COLUMN last_downloaded_at BIGINT;
-- Whether the recipe has a committed revision (what a listing shows), kept by the trigger
-- below in the transaction that commits, inserts or deletes a revision, so that listing and
-- counting a project's recipes read one index instead of probing every recipe's revisions.
ALTER TABLE recipes ADD COLUMN committed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE recipes SET committed = EXISTS (
    SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
);

CREATE FUNCTION refresh_recipe_committed() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE recipes SET committed = EXISTS (
            SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
        ) WHERE id = OLD.recipe_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE recipes SET committed = EXISTS (
            SELECT 1 FROM recipe_revisions r WHERE r.recipe_id = recipes.id AND r.committed_at IS NOT NULL
        ) WHERE id = NEW.recipe_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER recipe_revisions_committed_insert AFTER INSERT ON recipe_revisions
    FOR EACH ROW WHEN (NEW.committed_at IS NOT NULL) EXECUTE FUNCTION refresh_recipe_committed();
CREATE TRIGGER recipe_revisions_committed_update AFTER UPDATE OF committed_at, recipe_id ON recipe_revisions
    FOR EACH ROW EXECUTE FUNCTION refresh_recipe_committed();
CREATE TRIGGER recipe_revisions_committed_delete AFTER DELETE ON recipe_revisions
    FOR EACH ROW WHEN (OLD.committed_at IS NOT NULL) EXECUTE FUNCTION refresh_recipe_committed();

-- Listings page through a project's listed recipes in creation, name or version order, with the
-- id as the tie-breaker: these indexes serve the filter, the order, the offset and the count,
-- and carry the name, so that a name search reads the index alone.
CREATE INDEX recipes_project_created ON recipes (project_id, committed, created_at, id, name);
CREATE INDEX recipes_project_name ON recipes (project_id, committed, name, id);
CREATE INDEX recipes_project_version ON recipes (project_id, committed, version, id, name);

-- A name search (`package_name`: words anywhere in the name) would read every recipe of the
-- project; pg_trgm's GIN index finds the matches directly. pg_trgm ships with PostgreSQL
-- (contrib) and is a trusted extension since PostgreSQL 13, so the database owner may create
-- it; where it is missing or not allowed, the index is skipped and the search scans, correct but
-- slower (the migration says so in a notice).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX recipes_name_trigrams ON recipes USING gin (lower(name) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): package name searches will scan', SQLERRM;
END;
$$;
