DROP TRIGGER signing_keys_identity_epoch ON signing_keys;
DROP TRIGGER deploy_tokens_identity_epoch ON deploy_tokens;
DROP TRIGGER personal_access_tokens_identity_epoch ON personal_access_tokens;
DROP TRIGGER memberships_identity_epoch ON memberships;
DROP TRIGGER users_identity_epoch ON users;
DROP TRIGGER projects_identity_epoch ON projects;
DROP FUNCTION bump_identity_epoch();
DROP TABLE identity_epoch;
