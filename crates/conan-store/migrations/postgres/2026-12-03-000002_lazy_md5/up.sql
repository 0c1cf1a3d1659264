-- md5 becomes optional (PostgreSQL). Keep in step with ../../sqlite/<same name>/up.sql.
-- Uploads compute sha1 and sha256 only; the md5 that Conan 1 clients read from v1 snapshots is
-- computed from the stored blob when first asked for and recorded here (NULL until then).

ALTER TABLE blobs ALTER COLUMN md5 DROP NOT NULL;
ALTER TABLE files ALTER COLUMN md5 DROP NOT NULL;
