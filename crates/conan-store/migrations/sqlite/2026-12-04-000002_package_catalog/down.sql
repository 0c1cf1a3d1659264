DROP INDEX recipes_project_version;
DROP INDEX recipes_project_name;
DROP INDEX recipes_project_created;
DROP TRIGGER recipe_revisions_committed_delete;
DROP TRIGGER recipe_revisions_committed_update;
DROP TRIGGER recipe_revisions_committed_insert;
ALTER TABLE recipes DROP COLUMN committed;
ALTER TABLE recipes DROP COLUMN last_downloaded_at;
