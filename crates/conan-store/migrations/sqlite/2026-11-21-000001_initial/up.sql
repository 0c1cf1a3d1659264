-- Initial schema (SQLite). Keep in step with ../../postgres/<same name>/up.sql and src/db/schema.rs:
-- the same tables, columns, nullability and indexes. Times are BIGINT microseconds since the Unix epoch.
-- SQLite compares text bytewise (BINARY), as the "C" collation of the PostgreSQL schema does.

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'internal', 'private')),
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('guest', 'reporter', 'developer', 'maintainer', 'owner')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE personal_access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);

CREATE TABLE deploy_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX deploy_tokens_project ON deploy_tokens (project_id);

CREATE TABLE signing_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE recipes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    -- '' when the reference has no user or channel, so the unique key needs no NULL handling.
    user_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, name, version, user_name, channel)
);
CREATE INDEX recipes_name ON recipes (name, version, user_name, channel);
CREATE INDEX recipes_lower_name ON recipes (lower(name));
-- Search narrows by project and name prefix; this lets the planner use both without statistics.
CREATE INDEX recipes_project_lower_name ON recipes (project_id, lower(name));

CREATE TABLE recipe_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipe_id BIGINT NOT NULL REFERENCES recipes (id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    -- NULL until conanmanifest.txt is stored: the revision is invisible until then.
    committed_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (recipe_id, revision)
);
CREATE INDEX recipe_revisions_latest ON recipe_revisions (recipe_id, committed_at);

CREATE TABLE package_references (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipe_revision_id BIGINT NOT NULL REFERENCES recipe_revisions (id) ON DELETE CASCADE,
    package_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (recipe_revision_id, package_id)
);

CREATE TABLE package_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_reference_id BIGINT NOT NULL REFERENCES package_references (id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    committed_at BIGINT,
    -- The raw conaninfo.txt of this package revision, kept for package search.
    conaninfo TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (package_reference_id, revision)
);
CREATE INDEX package_revisions_latest ON package_revisions (package_reference_id, committed_at);

CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,
    md5 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set by the garbage collector when no file references the blob; cleared by any new reference.
    orphaned_at BIGINT
);
CREATE INDEX blobs_sha1 ON blobs (sha1);

CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipe_revision_id BIGINT NOT NULL REFERENCES recipe_revisions (id) ON DELETE CASCADE,
    -- NULL for a recipe file; the package revision for a package file.
    package_revision_id BIGINT REFERENCES package_revisions (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX files_recipe_path ON files (recipe_revision_id, path) WHERE package_revision_id IS NULL;
CREATE UNIQUE INDEX files_package_path ON files (package_revision_id, path) WHERE package_revision_id IS NOT NULL;
CREATE INDEX files_sha256 ON files (sha256);
