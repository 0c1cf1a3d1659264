-- md5 becomes optional (SQLite). Keep in step with ../../postgres/<same name>/up.sql.
-- Uploads compute sha1 and sha256 only; the md5 that Conan 1 clients read from v1 snapshots is
-- computed from the stored blob when first asked for and recorded here (NULL until then).
-- SQLite cannot drop a NOT NULL constraint in place, and rebuilding `blobs` would trip the
-- foreign key from `files`, so each column is replaced by a nullable copy (md5 is in no index,
-- key, trigger or constraint, which DROP COLUMN requires).

ALTER TABLE blobs ADD COLUMN md5_optional TEXT;
UPDATE blobs SET md5_optional = md5;
ALTER TABLE blobs DROP COLUMN md5;
ALTER TABLE blobs RENAME COLUMN md5_optional TO md5;

ALTER TABLE files ADD COLUMN md5_optional TEXT;
UPDATE files SET md5_optional = md5;
ALTER TABLE files DROP COLUMN md5;
ALTER TABLE files RENAME COLUMN md5_optional TO md5;
