-- The identity epoch (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.
-- One counter that every change to who may do what increases inside the changing transaction:
-- projects, users, memberships, tokens (but not a personal token's last-use time) and signing
-- keys. A reader that sees the same value in its snapshot sees the same identities, so a node may
-- reuse what it read under one value until the value changes (conan-auth's identity cache).
-- The counter is bumped BEFORE each statement, so every identity-writing transaction takes the
-- counter's row lock before any identity row lock: they queue on it instead of deadlocking.

CREATE TABLE identity_epoch (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO identity_epoch (id, value) VALUES (1, 0);

CREATE FUNCTION bump_identity_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_epoch SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER projects_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER users_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER memberships_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER personal_access_tokens_identity_epoch
    BEFORE INSERT OR DELETE OR TRUNCATE
        OR UPDATE OF id, user_id, name, token_hash, scopes, expires_at, revoked_at, created_at
    ON personal_access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER deploy_tokens_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON deploy_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
CREATE TRIGGER signing_keys_identity_epoch
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_epoch();
