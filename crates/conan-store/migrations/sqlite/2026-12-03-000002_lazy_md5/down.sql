-- Back to a required md5 (SQLite). Refused while any blob or file has no md5 yet: the check
-- table's NOT NULL fails the migration, which leaves everything as it was. Run a v1 snapshot
-- of every revision first, or re-upload. (SQLite requires a default for an added NOT NULL
-- column; the copy overwrites it on every row.)

CREATE TEMPORARY TABLE md5_required (md5 TEXT NOT NULL);
INSERT INTO md5_required SELECT md5 FROM blobs;
INSERT INTO md5_required SELECT md5 FROM files;
DROP TABLE md5_required;

ALTER TABLE blobs ADD COLUMN md5_required TEXT NOT NULL DEFAULT '';
UPDATE blobs SET md5_required = md5;
ALTER TABLE blobs DROP COLUMN md5;
ALTER TABLE blobs RENAME COLUMN md5_required TO md5;

ALTER TABLE files ADD COLUMN md5_required TEXT NOT NULL DEFAULT '';
UPDATE files SET md5_required = md5;
ALTER TABLE files DROP COLUMN md5;
ALTER TABLE files RENAME COLUMN md5_required TO md5;
