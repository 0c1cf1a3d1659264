//! Users, projects, memberships, tokens and signing keys on diesel.

use conan_model::RevisionTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{
    deploy_tokens, identity_epoch, memberships, personal_access_tokens, projects, signing_keys,
    users,
};
use super::{DbConnection, DbError, DieselStore, now_micros, parse_stored, time_of};
use crate::StoreError;
use crate::records::{
    NewToken, NewUser, Project, ProjectId, ProjectKey, Role, SigningKey, SigningKeyId, Token,
    TokenHolder, TokenId, TokenKind, TokenOwner, User, UserId, Visibility,
};
use crate::traits::IdentityStore;

/// A project's row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = projects, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ProjectRow {
    id: i64,
    path: String,
    visibility: String,
    created_at: i64,
}

/// A user's row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct UserRow {
    id: i64,
    username: String,
    password_hash: Option<String>,
    is_admin: bool,
    is_active: bool,
    created_at: i64,
}

/// A personal access token's row.
#[derive(Queryable, Selectable)]
#[diesel(
    table_name = personal_access_tokens,
    check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite)
)]
struct PersonalTokenRow {
    id: i64,
    user_id: i64,
    name: String,
    token_hash: String,
    scopes: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    created_at: i64,
}

/// A deploy token's row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deploy_tokens, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct DeployTokenRow {
    id: i64,
    project_id: i64,
    username: String,
    name: String,
    token_hash: String,
    scopes: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
}

fn project_of(row: ProjectRow) -> Result<Project, DbError> {
    Ok(Project {
        id: ProjectId(row.id),
        path: row.path,
        visibility: parse_stored(&row.visibility)?,
        created_at: time_of(row.created_at)?,
    })
}

fn user_of(row: UserRow) -> Result<User, DbError> {
    Ok(User {
        id: UserId(row.id),
        username: row.username,
        password_hash: row.password_hash,
        is_admin: row.is_admin,
        is_active: row.is_active,
        created_at: time_of(row.created_at)?,
    })
}

fn optional_time(micros: Option<i64>) -> Result<Option<RevisionTime>, DbError> {
    micros.map(time_of).transpose()
}

fn scopes_of(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

fn personal_token_of(row: PersonalTokenRow) -> Result<Token, DbError> {
    Ok(Token {
        id: TokenId(row.id),
        owner: TokenOwner::User(UserId(row.user_id)),
        name: row.name,
        token_hash: row.token_hash,
        scopes: scopes_of(&row.scopes),
        expires_at: optional_time(row.expires_at)?,
        revoked_at: optional_time(row.revoked_at)?,
        last_used_at: optional_time(row.last_used_at)?,
        created_at: time_of(row.created_at)?,
    })
}

fn deploy_token_of(row: DeployTokenRow) -> Result<Token, DbError> {
    Ok(Token {
        id: TokenId(row.id),
        owner: TokenOwner::Project {
            project: ProjectId(row.project_id),
            username: row.username,
        },
        name: row.name,
        token_hash: row.token_hash,
        scopes: scopes_of(&row.scopes),
        expires_at: optional_time(row.expires_at)?,
        revoked_at: optional_time(row.revoked_at)?,
        last_used_at: None,
        created_at: time_of(row.created_at)?,
    })
}

/// Expands `$body` once per token kind, with `$table` naming that kind's table module, `$row`
/// its row type, `$of` the function turning such a row into a [`Token`], and
/// `$holder` the column naming whose the token is. The two tables differ in a column or two, so
/// diesel sees two types; the query is still written once.
macro_rules! per_token_kind {
    ($kind:expr, |$table:ident, $row:ident, $of:ident, $holder:ident| $body:expr) => {
        match $kind {
            TokenKind::Personal => {
                use personal_access_tokens as $table;
                type $row = PersonalTokenRow;
                let ($of, $holder) = (personal_token_of, personal_access_tokens::user_id);
                $body
            }
            TokenKind::Deploy => {
                use deploy_tokens as $table;
                type $row = DeployTokenRow;
                let ($of, $holder) = (deploy_token_of, deploy_tokens::project_id);
                $body
            }
        }
    };
}

fn find_token_by_hash(
    conn: &mut DbConnection,
    kind: TokenKind,
    hash: &str,
) -> Result<Option<Token>, DbError> {
    per_token_kind!(kind, |table, Row, of, _holder| {
        table::table
            .filter(table::token_hash.eq(hash))
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(of)
            .transpose()
    })
}

fn conflict(what: String) -> DbError {
    DbError::Store(StoreError::Conflict(what))
}

pub(super) fn find_project_by_path(
    conn: &mut DbConnection,
    path: &str,
) -> Result<Option<Project>, DbError> {
    let row: Option<ProjectRow> = projects::table
        .filter(projects::path.eq(path))
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?;
    row.map(project_of).transpose()
}

fn find_user_by_name(conn: &mut DbConnection, username: &str) -> Result<Option<User>, DbError> {
    let row: Option<UserRow> = users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    row.map(user_of).transpose()
}

impl IdentityStore for DieselStore {
    fn create_project(&self, path: &str, visibility: Visibility) -> Result<Project, StoreError> {
        self.transaction(|conn| {
            if find_project_by_path(conn, path)?.is_some() {
                return Err(conflict(format!("project {path:?} already exists")));
            }
            diesel::insert_into(projects::table)
                .values((
                    projects::path.eq(path),
                    projects::visibility.eq(visibility.as_str()),
                    projects::created_at.eq(now_micros()),
                ))
                .execute(conn)?;
            find_project_by_path(conn, path)?
                .ok_or(DbError::Diesel(diesel::result::Error::NotFound))
        })
    }

    fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.read(|conn| {
            let row: Option<ProjectRow> = projects::table
                .find(id.0)
                .select(ProjectRow::as_select())
                .first(conn)
                .optional()?;
            row.map(project_of).transpose()
        })
    }

    fn project_by_path(&self, path: &str) -> Result<Option<Project>, StoreError> {
        self.read(|conn| find_project_by_path(conn, path))
    }

    fn projects(&self) -> Result<Vec<Project>, StoreError> {
        self.read(|conn| {
            let rows: Vec<ProjectRow> = projects::table
                .order(projects::path)
                .select(ProjectRow::as_select())
                .load(conn)?;
            rows.into_iter().map(project_of).collect()
        })
    }

    fn projects_with_visibility(
        &self,
        visibilities: &[Visibility],
    ) -> Result<Vec<Project>, StoreError> {
        self.read(|conn| {
            let rows: Vec<ProjectRow> = projects::table
                .filter(projects::visibility.eq_any(visibilities.iter().map(|v| v.as_str())))
                .order(projects::path)
                .select(ProjectRow::as_select())
                .load(conn)?;
            rows.into_iter().map(project_of).collect()
        })
    }

    fn set_project_visibility(
        &self,
        id: ProjectId,
        visibility: Visibility,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = diesel::update(projects::table.find(id.0))
                .set(projects::visibility.eq(visibility.as_str()))
                .execute(conn)?;
            Ok(updated > 0)
        })
    }

    fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        self.transaction(|conn| {
            if find_user_by_name(conn, &user.username)?.is_some() {
                return Err(conflict(format!("user {:?} already exists", user.username)));
            }
            diesel::insert_into(users::table)
                .values((
                    users::username.eq(&user.username),
                    users::password_hash.eq(user.password_hash.as_deref()),
                    users::is_admin.eq(user.is_admin),
                    users::is_active.eq(true),
                    users::created_at.eq(now_micros()),
                ))
                .execute(conn)?;
            find_user_by_name(conn, &user.username)?
                .ok_or(DbError::Diesel(diesel::result::Error::NotFound))
        })
    }

    fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(|conn| {
            let row: Option<UserRow> = users::table
                .find(id.0)
                .select(UserRow::as_select())
                .first(conn)
                .optional()?;
            row.map(user_of).transpose()
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.read(|conn| find_user_by_name(conn, username))
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|conn| {
            let rows: Vec<UserRow> = users::table
                .order(users::username)
                .select(UserRow::as_select())
                .load(conn)?;
            rows.into_iter().map(user_of).collect()
        })
    }

    fn user_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let count: i64 = users::table.select(count_star()).first(conn)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }

    fn set_password_hash(&self, id: UserId, hash: Option<&str>) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = diesel::update(users::table.find(id.0))
                .set(users::password_hash.eq(hash))
                .execute(conn)?;
            Ok(updated > 0)
        })
    }

    fn set_user_active(&self, id: UserId, active: bool) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = diesel::update(users::table.find(id.0))
                .set(users::is_active.eq(active))
                .execute(conn)?;
            Ok(updated > 0)
        })
    }

    fn set_user_admin(&self, id: UserId, admin: bool) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = diesel::update(users::table.find(id.0))
                .set(users::is_admin.eq(admin))
                .execute(conn)?;
            Ok(updated > 0)
        })
    }

    fn set_membership(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
    ) -> Result<(), StoreError> {
        self.transaction(|conn| {
            let updated = diesel::update(memberships::table.find((project.0, user.0)))
                .set(memberships::role.eq(role.as_str()))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(memberships::table)
                    .values((
                        memberships::project_id.eq(project.0),
                        memberships::user_id.eq(user.0),
                        memberships::role.eq(role.as_str()),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn remove_membership(&self, project: ProjectId, user: UserId) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let deleted =
                diesel::delete(memberships::table.find((project.0, user.0))).execute(conn)?;
            Ok(deleted > 0)
        })
    }

    fn membership(&self, project: ProjectId, user: UserId) -> Result<Option<Role>, StoreError> {
        self.read(|conn| {
            let role: Option<String> = memberships::table
                .find((project.0, user.0))
                .select(memberships::role)
                .first(conn)
                .optional()?;
            role.as_deref().map(parse_stored).transpose()
        })
    }

    fn project_and_role(
        &self,
        key: ProjectKey<'_>,
        user: Option<UserId>,
    ) -> Result<Option<(Project, Option<Role>)>, StoreError> {
        self.read(|conn| {
            // Without a user the condition compares with NULL, which matches no membership:
            // the same query then reads the project alone.
            let member = user.map(|user| user.0);
            let query = projects::table
                .left_join(
                    memberships::table.on(memberships::project_id
                        .eq(projects::id)
                        .and(memberships::user_id.nullable().eq(member))),
                )
                .select((ProjectRow::as_select(), memberships::role.nullable()))
                .into_boxed();
            let query = match key {
                ProjectKey::Id(id) => query.filter(projects::id.eq(id.0)),
                ProjectKey::Path(path) => query.filter(projects::path.eq(path)),
            };
            let row: Option<(ProjectRow, Option<String>)> = query.first(conn).optional()?;
            row.map(|(project, role)| {
                Ok((
                    project_of(project)?,
                    role.as_deref().map(parse_stored).transpose()?,
                ))
            })
            .transpose()
        })
    }

    fn project_members(&self, project: ProjectId) -> Result<Vec<(User, Role)>, StoreError> {
        self.read(|conn| {
            let rows: Vec<(UserRow, String)> = memberships::table
                .inner_join(users::table)
                .filter(memberships::project_id.eq(project.0))
                .order(users::username)
                .select((UserRow::as_select(), memberships::role))
                .load(conn)?;
            rows.into_iter()
                .map(|(user, role)| Ok((user_of(user)?, parse_stored(&role)?)))
                .collect()
        })
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<(ProjectId, Role)>, StoreError> {
        self.read(|conn| {
            let rows: Vec<(i64, String)> = memberships::table
                .filter(memberships::user_id.eq(user.0))
                .order(memberships::project_id)
                .select((memberships::project_id, memberships::role))
                .load(conn)?;
            rows.into_iter()
                .map(|(project, role)| Ok((ProjectId(project), parse_stored(&role)?)))
                .collect()
        })
    }

    fn create_token(&self, token: &NewToken) -> Result<Token, StoreError> {
        let scopes = token.scopes.join(",");
        let expires_at = token.expires_at.map(RevisionTime::unix_micros);
        self.transaction(|conn| {
            let now = now_micros();
            match &token.owner {
                TokenOwner::User(user) => {
                    diesel::insert_into(personal_access_tokens::table)
                        .values((
                            personal_access_tokens::user_id.eq(user.0),
                            personal_access_tokens::name.eq(&token.name),
                            personal_access_tokens::token_hash.eq(&token.token_hash),
                            personal_access_tokens::scopes.eq(&scopes),
                            personal_access_tokens::expires_at.eq(expires_at),
                            personal_access_tokens::created_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                TokenOwner::Project { project, username } => {
                    let name_uses: i64 = deploy_tokens::table
                        .filter(deploy_tokens::username.eq(username))
                        .select(count_star())
                        .first(conn)?;
                    if name_uses > 0 {
                        return Err(conflict(format!(
                            "deploy token user name {username:?} is taken"
                        )));
                    }
                    diesel::insert_into(deploy_tokens::table)
                        .values((
                            deploy_tokens::project_id.eq(project.0),
                            deploy_tokens::name.eq(&token.name),
                            deploy_tokens::username.eq(username),
                            deploy_tokens::token_hash.eq(&token.token_hash),
                            deploy_tokens::scopes.eq(&scopes),
                            deploy_tokens::expires_at.eq(expires_at),
                            deploy_tokens::created_at.eq(now),
                        ))
                        .execute(conn)?;
                }
            }
            find_token_by_hash(conn, token.owner.kind(), &token.token_hash)?
                .ok_or(DbError::Diesel(diesel::result::Error::NotFound))
        })
    }

    fn token_by_hash(&self, kind: TokenKind, hash: &str) -> Result<Option<Token>, StoreError> {
        self.read(|conn| find_token_by_hash(conn, kind, hash))
    }

    fn token(&self, kind: TokenKind, id: TokenId) -> Result<Option<Token>, StoreError> {
        self.read(|conn| {
            per_token_kind!(kind, |table, Row, of, _holder| {
                table::table
                    .find(id.0)
                    .select(Row::as_select())
                    .first(conn)
                    .optional()?
                    .map(of)
                    .transpose()
            })
        })
    }

    fn tokens(&self, holder: TokenHolder) -> Result<Vec<Token>, StoreError> {
        let (kind, holder_id) = match holder {
            TokenHolder::User(user) => (TokenKind::Personal, user.0),
            TokenHolder::Project(project) => (TokenKind::Deploy, project.0),
        };
        self.read(|conn| {
            per_token_kind!(kind, |table, Row, of, holder_column| {
                table::table
                    .filter(holder_column.eq(holder_id))
                    .order(table::id.desc())
                    .select(Row::as_select())
                    .load(conn)?
                    .into_iter()
                    .map(of)
                    .collect()
            })
        })
    }

    fn revoke_token(
        &self,
        kind: TokenKind,
        id: TokenId,
        at: RevisionTime,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = per_token_kind!(kind, |table, _Row, _of, _holder| {
                diesel::update(table::table.find(id.0).filter(table::revoked_at.is_null()))
                    .set(table::revoked_at.eq(at.unix_micros()))
                    .execute(conn)?
            });
            Ok(updated > 0)
        })
    }

    fn touch_personal_token(&self, id: TokenId, at: RevisionTime) -> Result<(), StoreError> {
        // Inside an inline read scope this thread is an async worker, which must not wait for
        // the write lock: the bookkeeping goes to the blocking pool and the request goes on.
        if self.in_inline_scope()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.clone();
            drop(runtime.spawn_blocking(move || store.touch_personal_token(id, at)));
            return Ok(());
        }
        self.transaction(|conn| {
            diesel::update(personal_access_tokens::table.find(id.0))
                .set(personal_access_tokens::last_used_at.eq(at.unix_micros()))
                .execute(conn)?;
            Ok(())
        })
    }

    fn identity_epoch(&self) -> Result<i64, StoreError> {
        self.identity_epoch_once(|conn| {
            let query = identity_epoch::table
                .select(identity_epoch::value)
                .find(1_i64);
            Ok(native!(conn, c => query.first(c))?)
        })
    }

    fn add_signing_key(&self, secret: &str) -> Result<SigningKey, StoreError> {
        self.transaction(|conn| {
            diesel::insert_into(signing_keys::table)
                .values((
                    signing_keys::secret.eq(secret),
                    signing_keys::created_at.eq(now_micros()),
                ))
                .execute(conn)?;
            let (id, secret, created_at): (i64, String, i64) = signing_keys::table
                .filter(signing_keys::secret.eq(secret))
                .order(signing_keys::id.desc())
                .select((
                    signing_keys::id,
                    signing_keys::secret,
                    signing_keys::created_at,
                ))
                .first(conn)?;
            Ok(SigningKey {
                id: SigningKeyId(id),
                secret,
                created_at: time_of(created_at)?,
            })
        })
    }

    fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        self.read(|conn| {
            let rows: Vec<(i64, String, i64)> = signing_keys::table
                .order(signing_keys::id.desc())
                .select((
                    signing_keys::id,
                    signing_keys::secret,
                    signing_keys::created_at,
                ))
                .load(conn)?;
            rows.into_iter()
                .map(|(id, secret, created_at)| {
                    Ok(SigningKey {
                        id: SigningKeyId(id),
                        secret,
                        created_at: time_of(created_at)?,
                    })
                })
                .collect()
        })
    }

    fn remove_signing_key(&self, id: SigningKeyId) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let deleted = diesel::delete(signing_keys::table.find(id.0)).execute(conn)?;
            Ok(deleted > 0)
        })
    }
}
