-- Package protection rules (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.
-- GitLab's per-project rules: packages of a type whose name matches the pattern (`*` wildcards,
-- matched case-insensitively by conan-model, never by SQL) may be pushed or deleted only from
-- the given access level up. A NULL level leaves that action to the usual roles.
-- Rules decide who may do what, so every change moves the identity epoch, like the identity
-- tables' changes do (see 2026-12-03-000001_identity_epoch): BEFORE each statement, so the
-- counter's row lock comes first here too.

CREATE TABLE package_protection_rules (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    package_name_pattern TEXT COLLATE "C" NOT NULL,
    package_type TEXT COLLATE "C" NOT NULL,
    minimum_access_level_for_push TEXT,
    minimum_access_level_for_delete TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, package_type, package_name_pattern)
);

CREATE TRIGGER package_protection_rules_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON package_protection_rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
