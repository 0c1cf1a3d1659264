-- Virtual projects (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.
-- A virtual project is a project with a row here: it holds no packages itself and answers from
-- its ordered members (see docs/VIRTUAL_PROJECTS.md). Virtual-ness is decided when the project
-- is created and never changes, so refusing a virtual member when a member is added is enough
-- to rule out nesting and cycles. Deleting the virtual project or a member removes its rows;
-- deleting the deploy member clears the deploy member.
-- Members decide who reads what through the virtual project, so every change moves the
-- identity epoch (see 2026-12-03-000001_identity_epoch): BEFORE each statement, so the
-- counter's row lock comes first here too.

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

CREATE TRIGGER virtual_projects_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON virtual_projects
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();

CREATE TRIGGER virtual_members_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON virtual_members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
