-- Cleanup policies that expire unused source backups (SQLite). Keep in step with
-- ../../postgres/<same name>/up.sql.

-- When the backup was last used: stored (either file) or its source file downloaded. Downloads
-- write it at most once an hour a backup, so a build farm fetching the same file does not write
-- on every download. Existing backups start from their last change.
ALTER TABLE source_backups ADD COLUMN last_used_at BIGINT;
UPDATE source_backups SET last_used_at = updated_at;
CREATE INDEX source_backups_used ON source_backups (project_id, last_used_at);

-- The policy rule: remove the backups not used in the last D days (NULL: never).
ALTER TABLE cleanup_policies ADD COLUMN source_backups_unused_days BIGINT;
