-- pg_trgm stays: other objects of the database may use it.
DROP INDEX IF EXISTS recipes_name_trigrams;
DROP INDEX recipes_project_version;
DROP INDEX recipes_project_name;
DROP INDEX recipes_project_created;
DROP TRIGGER recipe_revisions_committed_delete ON recipe_revisions;
DROP TRIGGER recipe_revisions_committed_update ON recipe_revisions;
DROP TRIGGER recipe_revisions_committed_insert ON recipe_revisions;
DROP FUNCTION refresh_recipe_committed();
ALTER TABLE recipes DROP COLUMN committed;
ALTER TABLE recipes DROP COLUMN last_downloaded_at;
