-- Package protection rules (SQLite). Keep in step with ../../postgres/<same name>/up.sql.
-- GitLab's per-project rules: packages of a type whose name matches the pattern (`*` wildcards,
-- matched case-insensitively by conan-model, never by SQL) may be pushed or deleted only from
-- the given access level up. A NULL level leaves that action to the usual roles.
-- Rules decide who may do what, so every change moves the identity epoch, like the identity
-- tables' changes do (see 2026-12-03-000001_identity_epoch).

CREATE TABLE package_protection_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    package_name_pattern TEXT NOT NULL,
    package_type TEXT NOT NULL,
    minimum_access_level_for_push TEXT,
    minimum_access_level_for_delete TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, package_type, package_name_pattern)
);

CREATE TRIGGER package_protection_rules_identity_epoch_insert AFTER INSERT ON package_protection_rules
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER package_protection_rules_identity_epoch_update AFTER UPDATE ON package_protection_rules
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER package_protection_rules_identity_epoch_delete AFTER DELETE ON package_protection_rules
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;
