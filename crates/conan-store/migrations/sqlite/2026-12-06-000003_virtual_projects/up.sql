-- Virtual projects (SQLite). Keep in step with ../../postgres/<same name>/up.sql.
-- A virtual project is a project with a row here: it holds no packages itself and answers from
-- its ordered members (see docs/VIRTUAL_PROJECTS.md). Virtual-ness is decided when the project
-- is created and never changes, so refusing a virtual member when a member is added is enough
-- to rule out nesting and cycles. Deleting the virtual project or a member removes its rows;
-- deleting the deploy member clears the deploy member.
-- Members decide who reads what through the virtual project, so every change moves the
-- identity epoch, like the identity tables' changes do (see 2026-12-03-000001_identity_epoch).

CREATE TABLE virtual_projects (
    project_id BIGINT PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    deploy_member_id BIGINT REFERENCES projects (id) ON DELETE SET NULL
);

CREATE TABLE virtual_members (
    virtual_project_id BIGINT NOT NULL REFERENCES virtual_projects (project_id) ON DELETE CASCADE,
    member_project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ordinal BIGINT NOT NULL,
    PRIMARY KEY (virtual_project_id, member_project_id),
    UNIQUE (virtual_project_id, ordinal)
);
CREATE INDEX virtual_members_member ON virtual_members (member_project_id);

CREATE TRIGGER virtual_projects_identity_epoch_insert AFTER INSERT ON virtual_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER virtual_projects_identity_epoch_update AFTER UPDATE ON virtual_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER virtual_projects_identity_epoch_delete AFTER DELETE ON virtual_projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER virtual_members_identity_epoch_insert AFTER INSERT ON virtual_members
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER virtual_members_identity_epoch_update AFTER UPDATE ON virtual_members
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER virtual_members_identity_epoch_delete AFTER DELETE ON virtual_members
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;
