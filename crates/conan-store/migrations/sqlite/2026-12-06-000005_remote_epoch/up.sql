-- Remote projects move the identity epoch (SQLite). Keep in step with ../../postgres/<same name>/up.sql.
-- Whether a project is remote, and its upstream, is read on every request to the project: the
-- identity cache keeps it under the identity epoch (conan-auth), so every change of a
-- remote_projects row moves the epoch, like the virtual projects' tables do.

CREATE TRIGGER remote_projects_identity_epoch_insert AFTER INSERT ON remote_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER remote_projects_identity_epoch_update AFTER UPDATE ON remote_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER remote_projects_identity_epoch_delete AFTER DELETE ON remote_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;
