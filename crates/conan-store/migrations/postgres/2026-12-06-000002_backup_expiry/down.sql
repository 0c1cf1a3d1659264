ALTER TABLE cleanup_policies DROP COLUMN source_backups_unused_days;
DROP INDEX source_backups_used;
ALTER TABLE source_backups DROP COLUMN last_used_at;
