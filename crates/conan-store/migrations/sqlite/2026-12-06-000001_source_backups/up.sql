-- Conan's source backups (SQLite). Keep in step with ../../postgres/<same name>/up.sql.

-- One row a project and sha256: the downloaded source file itself once it is stored
-- (blob_sha256, which equals sha256, references the blob index so the collector keeps it) and
-- its JSON summary as the client last sent it. The Conan client uploads the summary before the
-- file, so either may exist alone.
CREATE TABLE source_backups (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    blob_sha256 TEXT REFERENCES blobs (sha256),
    size BIGINT,
    summary TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, sha256)
);
CREATE INDEX source_backups_blob ON source_backups (blob_sha256);
