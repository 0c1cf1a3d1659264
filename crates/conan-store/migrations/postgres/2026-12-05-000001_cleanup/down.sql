DROP TABLE cleanup_removals;
DROP TABLE cleanup_runs;
DROP TABLE cleanup_policies;
ALTER TABLE package_revisions DROP COLUMN last_downloaded_at;
ALTER TABLE recipe_revisions DROP COLUMN last_downloaded_at;
