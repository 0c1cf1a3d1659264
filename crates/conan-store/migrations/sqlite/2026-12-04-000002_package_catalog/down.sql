DROP INDEX recipes_project_version;
DROP INDEX recipes_project_name;
DROP INDEX recipes_project_created;
ALTER TABLE recipes DROP COLUMN last_downloaded_at;
