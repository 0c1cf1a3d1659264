-- Cleanup policies and their runs (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.

-- When a file of the revision (for a recipe revision: of it or of one of its packages) was last
-- downloaded, written in batches like recipes.last_downloaded_at. Revisions of recipes
-- downloaded before this migration start from the recipe's time: a policy must not take a
-- revision for unused only because it was downloaded before anyone counted per revision.
ALTER TABLE recipe_revisions ADD COLUMN last_downloaded_at BIGINT;
ALTER TABLE package_revisions ADD COLUMN last_downloaded_at BIGINT;
UPDATE recipe_revisions SET last_downloaded_at = (
    SELECT r.last_downloaded_at FROM recipes r WHERE r.id = recipe_revisions.recipe_id
);
UPDATE package_revisions SET last_downloaded_at = (
    SELECT r.last_downloaded_at FROM package_references pr
    JOIN recipe_revisions rr ON rr.id = pr.recipe_revision_id
    JOIN recipes r ON r.id = rr.recipe_id
    WHERE pr.id = package_revisions.package_reference_id
);

-- One policy per project; a project without a row has the default policy (disabled).
-- Patterns are JSON arrays of Conan search patterns.
CREATE TABLE cleanup_policies (
    project_id BIGINT PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    cadence TEXT NOT NULL,
    keep_n_duplicated_package_files TEXT NOT NULL,
    keep_n_recipe_revisions BIGINT,
    keep_n_package_revisions BIGINT,
    unused_days BIGINT,
    include_patterns TEXT NOT NULL,
    exclude_patterns TEXT NOT NULL,
    next_run_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cleanup_policies_due ON cleanup_policies (enabled, next_run_at);

-- Every run that removes (dry runs change nothing and are not recorded). A running run holds a
-- lease that its node renews after every batch; a run whose lease ran out belongs to a node
-- that died, and the next node to look resumes it after `resume_after` (the last recipe id it
-- finished). At most one run per project is running.
CREATE TABLE cleanup_runs (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    started_by TEXT NOT NULL,
    policy TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    resume_after BIGINT,
    recipes_examined BIGINT NOT NULL DEFAULT 0,
    skipped_protected BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    error TEXT
);
CREATE UNIQUE INDEX cleanup_runs_one_running ON cleanup_runs (project_id) WHERE state = 'running';
CREATE INDEX cleanup_runs_project ON cleanup_runs (project_id, id);

-- What a run removed, written in the transaction that removes it, so a run's record is exactly
-- what is gone even after a crash.
CREATE TABLE cleanup_removals (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES cleanup_runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    package_revisions BIGINT NOT NULL,
    files BIGINT NOT NULL,
    logical_bytes BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL,
    reason TEXT NOT NULL,
    removed_at BIGINT NOT NULL
);
CREATE INDEX cleanup_removals_run ON cleanup_removals (run_id, id);
