DROP TABLE source_backups;
