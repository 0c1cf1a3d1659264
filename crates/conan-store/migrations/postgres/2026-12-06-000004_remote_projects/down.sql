DROP TABLE remote_projects;
