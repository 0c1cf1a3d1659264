-- The identity epoch (SQLite). Keep in step with ../../postgres/<same name>/up.sql.
-- One counter that every change to who may do what increases inside the changing transaction:
-- projects, users, memberships, tokens (but not a personal token's last-use time) and signing
-- keys. A reader that sees the same value in its snapshot sees the same identities, so a node may
-- reuse what it read under one value until the value changes (conan-auth's identity cache).
-- SQLite has row triggers only, one event each; its writers are serialized anyway.

CREATE TABLE identity_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO identity_epoch (id, value) VALUES (1, 0);

CREATE TRIGGER projects_identity_epoch_insert AFTER INSERT ON projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER projects_identity_epoch_update AFTER UPDATE ON projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER projects_identity_epoch_delete AFTER DELETE ON projects
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_identity_epoch_insert AFTER INSERT ON users
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_identity_epoch_update AFTER UPDATE ON users
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_identity_epoch_delete AFTER DELETE ON users
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER memberships_identity_epoch_insert AFTER INSERT ON memberships
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER memberships_identity_epoch_update AFTER UPDATE ON memberships
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER memberships_identity_epoch_delete AFTER DELETE ON memberships
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_identity_epoch_insert AFTER INSERT ON personal_access_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_identity_epoch_update AFTER UPDATE OF id, user_id, name, token_hash, scopes, expires_at, revoked_at, created_at ON personal_access_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_identity_epoch_delete AFTER DELETE ON personal_access_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER deploy_tokens_identity_epoch_insert AFTER INSERT ON deploy_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER deploy_tokens_identity_epoch_update AFTER UPDATE ON deploy_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER deploy_tokens_identity_epoch_delete AFTER DELETE ON deploy_tokens
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_identity_epoch_insert AFTER INSERT ON signing_keys
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_identity_epoch_update AFTER UPDATE ON signing_keys
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_identity_epoch_delete AFTER DELETE ON signing_keys
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
END;
