-- Back to a required md5 (PostgreSQL). Fails, changing nothing, while any blob or file has no
-- md5 yet.

ALTER TABLE files ALTER COLUMN md5 SET NOT NULL;
ALTER TABLE blobs ALTER COLUMN md5 SET NOT NULL;
