-- Remote projects (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.

-- A remote project is a project with a row here: its content comes from an upstream Conan v2
-- server, fetched on the first read and kept (see conan-remote). The upstream's credentials
-- are stored sealed (AES-256-GCM) with a key that is never in the database
-- (remote.credentials_key in the configuration), so a dump alone does not reveal them.
CREATE TABLE remote_projects (
    project_id BIGINT PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    upstream_url TEXT NOT NULL,
    sealed_credentials TEXT,
    metadata_ttl_secs BIGINT NOT NULL,
    not_found_ttl_secs BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
