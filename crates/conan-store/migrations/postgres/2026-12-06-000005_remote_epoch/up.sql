-- Remote projects move the identity epoch (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.
-- Whether a project is remote, and its upstream, is read on every request to the project: the
-- identity cache keeps it under the identity epoch (conan-auth), so every change of a
-- remote_projects row moves the epoch (see 2026-12-03-000001_identity_epoch): BEFORE each
-- statement, so the counter's row lock comes first here too.

CREATE TRIGGER remote_projects_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON remote_projects
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
