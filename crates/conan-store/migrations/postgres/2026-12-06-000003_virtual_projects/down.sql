DROP TABLE virtual_members;
DROP TABLE virtual_projects;
