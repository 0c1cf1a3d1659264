//! The admin commands: users, projects, memberships, tokens, deploy tokens, signing keys and
//! package protection rules, against the configured database. Each prints a clear error and exits non-zero on failure.

#![expect(
    clippy::print_stdout,
    reason = "printing results is what these commands do"
)]

use std::io::BufRead as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use conan_auth::admin;
use conan_auth::{AuthConfig, Authenticator, Scope};
use conan_model::PackageNamePattern;
use conan_model::RevisionTime;
use conan_store::{
    AccessLevel, AccessStore, CatalogStore, IdentityStore, NewProtectionRule, PackageType,
    ProtectionRuleId, Role, SigningKeyId, Token, TokenHolder, TokenId, TokenKind, TokenOwner,
    Visibility,
};

/// How a command receives a password (never as an argument, which other users could see).
#[derive(Debug, Args)]
pub(crate) struct PasswordInput {
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password_env")]
    password_stdin: bool,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
}

/// One line of standard input as a password (without its line break); empty is refused.
pub(crate) fn stdin_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

impl PasswordInput {
    fn read(&self) -> anyhow::Result<Option<String>> {
        if self.password_stdin {
            return Ok(Some(stdin_password()?));
        }
        if let Some(var) = &self.password_env {
            let password = std::env::var(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            return Ok(Some(password));
        }
        Ok(None)
    }
}

/// A project visibility on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum VisibilityArg {
    /// Anyone may read, including anonymous callers.
    Public,
    /// Any signed-in user may read.
    Internal,
    /// Members only.
    Private,
}

impl From<VisibilityArg> for Visibility {
    fn from(value: VisibilityArg) -> Self {
        match value {
            VisibilityArg::Public => Self::Public,
            VisibilityArg::Internal => Self::Internal,
            VisibilityArg::Private => Self::Private,
        }
    }
}

/// A role on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// May read private projects.
    Guest,
    /// May read.
    Reporter,
    /// May upload.
    Developer,
    /// May delete.
    Maintainer,
    /// Owns the project.
    Owner,
}

impl From<RoleArg> for Role {
    fn from(value: RoleArg) -> Self {
        match value {
            RoleArg::Guest => Self::Guest,
            RoleArg::Reporter => Self::Reporter,
            RoleArg::Developer => Self::Developer,
            RoleArg::Maintainer => Self::Maintainer,
            RoleArg::Owner => Self::Owner,
        }
    }
}

/// A token scope on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ScopeArg {
    /// Everything the user may do.
    Api,
    /// Read only.
    ReadApi,
    /// Read packages.
    ReadPackageRegistry,
    /// Upload and delete packages.
    WritePackageRegistry,
}

impl From<ScopeArg> for Scope {
    fn from(value: ScopeArg) -> Self {
        match value {
            ScopeArg::Api => Self::Api,
            ScopeArg::ReadApi => Self::ReadApi,
            ScopeArg::ReadPackageRegistry => Self::ReadPackageRegistry,
            ScopeArg::WritePackageRegistry => Self::WritePackageRegistry,
        }
    }
}

/// A protection rule's push level on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum PushLevelArg {
    /// Maintainers, owners and administrators may push.
    Maintainer,
    /// Owners and administrators may push.
    Owner,
    /// Only instance administrators may push.
    Admin,
}

impl From<PushLevelArg> for AccessLevel {
    fn from(value: PushLevelArg) -> Self {
        match value {
            PushLevelArg::Maintainer => Self::Maintainer,
            PushLevelArg::Owner => Self::Owner,
            PushLevelArg::Admin => Self::Admin,
        }
    }
}

/// A protection rule's delete level on the command line (GitLab allows no `maintainer` here:
/// deleting needs a maintainer anyway).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum DeleteLevelArg {
    /// Owners and administrators may delete.
    Owner,
    /// Only instance administrators may delete.
    Admin,
}

impl From<DeleteLevelArg> for AccessLevel {
    fn from(value: DeleteLevelArg) -> Self {
        match value {
            DeleteLevelArg::Owner => Self::Owner,
            DeleteLevelArg::Admin => Self::Admin,
        }
    }
}

/// `user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user.
    Create {
        /// The user name.
        username: String,
        /// Make the user an instance administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// List users.
    List,
    /// Set (or, with no input, clear) a user's password.
    SetPassword {
        /// The user name.
        username: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Disable a user: every login and token of theirs stops working at once.
    Disable {
        /// The user name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user name.
        username: String,
    },
}

/// `project ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ProjectCommand {
    /// Create a project.
    Create {
        /// The full path, such as `my-group/my-project`.
        path: String,
        /// Who may read it.
        #[arg(long, value_enum, default_value = "private")]
        visibility: VisibilityArg,
        /// Make it a virtual project: it holds no packages and answers from its member projects
        /// (add them with `virtual add`; see `docs/VIRTUAL_PROJECTS.md`).
        #[arg(long = "virtual")]
        is_virtual: bool,
    },
    /// List projects (virtual projects marked `virtual`).
    List,
    /// What projects store: references, revisions, binaries, files, and bytes (as downloaded,
    /// and in the blob store after deduplication), counting committed revisions only.
    Stats {
        /// One project's full path; every project when left out.
        path: Option<String>,
    },
    /// Change a project's visibility.
    SetVisibility {
        /// The full path.
        path: String,
        /// The new visibility.
        #[arg(value_enum)]
        visibility: VisibilityArg,
    },
}

/// `member ...`
#[derive(Debug, Subcommand)]
pub(crate) enum MemberCommand {
    /// Give a user a role in a project (replacing any earlier role).
    Add {
        /// The project path.
        project: String,
        /// The user name.
        username: String,
        /// The role.
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Remove a user from a project.
    Remove {
        /// The project path.
        project: String,
        /// The user name.
        username: String,
    },
    /// List a project's members.
    List {
        /// The project path.
        project: String,
    },
}

/// `token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a personal access token; it is printed once.
    Create {
        /// The owner's user name.
        username: String,
        /// A label.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Scopes (repeatable).
        #[arg(long = "scope", value_enum, default_values = ["api"])]
        scopes: Vec<ScopeArg>,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
    /// List a user's tokens (never their secrets).
    List {
        /// The user name.
        username: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token id (from `token list`).
        id: i64,
    },
}

/// `deploy-token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DeployTokenCommand {
    /// Create a deploy token for a project; it is printed once.
    Create {
        /// The project path.
        project: String,
        /// The deploy token's user name (default: generated).
        #[arg(long)]
        username: Option<String>,
        /// A label.
        #[arg(long, default_value = "deploy")]
        name: String,
        /// Scopes (repeatable): read-package-registry and/or write-package-registry.
        #[arg(long = "scope", value_enum, required = true)]
        scopes: Vec<ScopeArg>,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
    /// List a project's deploy tokens (never their secrets).
    List {
        /// The project path.
        project: String,
    },
    /// Revoke a deploy token by id.
    Revoke {
        /// The token id (from `deploy-token list`).
        id: i64,
    },
}

/// `protection-rule ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ProtectionRuleCommand {
    /// List a project's package protection rules.
    List {
        /// The project path.
        #[arg(long)]
        project: String,
    },
    /// Protect the Conan packages whose name matches a pattern: only the given levels may push
    /// or delete them (deploy tokens may do neither).
    Add {
        /// The project path.
        #[arg(long)]
        project: String,
        /// The recipe names to protect: `*` matches any run of characters, letters match
        /// whatever their case, version, user and channel take no part (`zlib`, `boost*`).
        #[arg(long)]
        pattern: String,
        /// The least level that may push a matching package.
        #[arg(long, value_enum)]
        push_level: Option<PushLevelArg>,
        /// The least level that may delete a matching package.
        #[arg(long, value_enum)]
        delete_level: Option<DeleteLevelArg>,
    },
    /// Remove a protection rule by id.
    Remove {
        /// The project path.
        #[arg(long)]
        project: String,
        /// The rule id (from `protection-rule list`).
        id: i64,
    },
}

/// `signing-key ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SigningKeyCommand {
    /// Add a new JWT signing key; new tokens use it, older keys keep verifying until removed.
    Rotate,
    /// List signing keys (never their secrets).
    List,
    /// Remove a key: tokens signed with it stop working.
    Remove {
        /// The key id.
        id: i64,
    },
}

fn expiry(days: Option<u64>) -> anyhow::Result<Option<RevisionTime>> {
    days.map(|days| {
        let at = SystemTime::now() + Duration::from_hours(24 * days);
        RevisionTime::from_system_time(at)
            .map_err(|error| anyhow::anyhow!("invalid expiry: {error}"))
    })
    .transpose()
}

fn when(time: Option<RevisionTime>) -> String {
    time.map_or_else(|| "-".to_owned(), |time| time.to_string())
}

fn print_tokens(tokens: &[Token]) {
    println!(
        "{:<6} {:<20} {:<24} {:<48} {:<28} STATE",
        "ID", "NAME", "USERNAME", "SCOPES", "EXPIRES"
    );
    for token in tokens {
        let username = match &token.owner {
            TokenOwner::Project { username, .. } => username.as_str(),
            TokenOwner::User(_) => "-",
        };
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        println!(
            "{:<6} {:<20} {:<24} {:<48} {:<28} {state}",
            token.id,
            token.name,
            username,
            token.scopes.join(","),
            when(token.expires_at)
        );
    }
}

/// Lists the tokens of `holder`, never their secrets.
fn list_tokens(store: &dyn IdentityStore, holder: TokenHolder) -> anyhow::Result<()> {
    print_tokens(&store.tokens(holder)?);
    Ok(())
}

/// Revokes the token of `kind` with `id`.
fn revoke_token(store: &dyn IdentityStore, kind: TokenKind, id: i64) -> anyhow::Result<()> {
    // The messages each command has always printed.
    let (missing, revoked) = match kind {
        TokenKind::Personal => ("personal access token", "token"),
        TokenKind::Deploy => ("deploy token", "deploy token"),
    };
    let now = RevisionTime::from_system_time(SystemTime::now())?;
    if !store.revoke_token(kind, TokenId(id), now)? {
        bail!("no active {missing} with id {id}");
    }
    println!("revoked {revoked} {id}");
    Ok(())
}

/// Runs a `user` command.
pub(crate) fn user(store: &dyn IdentityStore, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            username,
            admin: is_admin,
            password,
        } => {
            let user = admin::create_user(store, &username, password.read()?.as_deref(), is_admin)?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if is_admin { ", administrator" } else { "" }
            );
        }
        UserCommand::List => {
            println!(
                "{:<6} {:<32} {:<6} {:<8} PASSWORD",
                "ID", "USERNAME", "ADMIN", "ACTIVE"
            );
            for user in store.users()? {
                println!(
                    "{:<6} {:<32} {:<6} {:<8} {}",
                    user.id,
                    user.username,
                    user.is_admin,
                    user.is_active,
                    if user.password_hash.is_some() {
                        "set"
                    } else {
                        "-"
                    }
                );
            }
        }
        UserCommand::SetPassword { username, password } => {
            let user = admin::find_user(store, &username)?;
            let password = password.read()?;
            admin::set_password(store, user.id, password.as_deref())?;
            println!(
                "{} the password of {username}",
                if password.is_some() { "set" } else { "cleared" }
            );
        }
        UserCommand::Disable { username } => {
            let user = admin::find_user(store, &username)?;
            store.set_user_active(user.id, false)?;
            println!("disabled {username}: their logins and tokens stop working now");
        }
        UserCommand::Enable { username } => {
            let user = admin::find_user(store, &username)?;
            store.set_user_active(user.id, true)?;
            println!("enabled {username}");
        }
    }
    Ok(())
}

/// Runs a `project` command.
pub(crate) fn project<S>(store: &S, command: ProjectCommand) -> anyhow::Result<()>
where
    S: AccessStore + CatalogStore,
{
    match command {
        ProjectCommand::Create {
            path,
            visibility,
            is_virtual,
        } => {
            let (project, kind) = if is_virtual {
                let project =
                    conan_auth::virtuals::create_virtual_project(store, &path, visibility.into())?;
                (project, "virtual project")
            } else {
                (
                    admin::create_project(store, &path, visibility.into())?,
                    "project",
                )
            };
            println!(
                "created {kind} {} (id {}, {})",
                project.path, project.id, project.visibility
            );
        }
        ProjectCommand::List => {
            println!("{:<6} {:<48} {:<10} KIND", "ID", "PATH", "VISIBILITY");
            for project in store.projects()? {
                let kind = if store.virtual_layout(project.id)?.is_some() {
                    "virtual"
                } else {
                    ""
                };
                println!(
                    "{:<6} {:<48} {:<10} {kind}",
                    project.id, project.path, project.visibility
                );
            }
        }
        ProjectCommand::Stats { path } => {
            let projects = match path {
                Some(path) => vec![admin::find_project(store, &path)?],
                None => store.projects()?,
            };
            println!(
                "{:<48} {:>10} {:>9} {:>9} {:>9} {:>8} {:>16} {:>16}",
                "PROJECT",
                "REFERENCES",
                "RREVS",
                "BINARIES",
                "PREVS",
                "FILES",
                "BYTES",
                "STORED BYTES"
            );
            for project in projects {
                let stats = store.project_stats(project.id)?;
                println!(
                    "{:<48} {:>10} {:>9} {:>9} {:>9} {:>8} {:>16} {:>16}",
                    project.path,
                    stats.references,
                    stats.recipe_revisions,
                    stats.binaries,
                    stats.package_revisions,
                    stats.files,
                    stats.logical_bytes,
                    stats.stored_bytes
                );
            }
        }
        ProjectCommand::SetVisibility { path, visibility } => {
            let project = admin::find_project(store, &path)?;
            let visibility: Visibility = visibility.into();
            store.set_project_visibility(project.id, visibility)?;
            println!("{path} is now {visibility}");
        }
    }
    Ok(())
}

/// Runs a `member` command.
pub(crate) fn member(store: &dyn IdentityStore, command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add {
            project,
            username,
            role,
        } => {
            let project = admin::find_project(store, &project)?;
            let user = admin::find_user(store, &username)?;
            let role: Role = role.into();
            store.set_membership(project.id, user.id, role)?;
            println!("{username} is now {role} of {}", project.path);
        }
        MemberCommand::Remove { project, username } => {
            let project = admin::find_project(store, &project)?;
            let user = admin::find_user(store, &username)?;
            if !store.remove_membership(project.id, user.id)? {
                bail!("{username} is not a member of {}", project.path);
            }
            println!("removed {username} from {}", project.path);
        }
        MemberCommand::List { project } => {
            let project = admin::find_project(store, &project)?;
            println!("{:<32} ROLE", "USERNAME");
            for (user, role) in store.project_members(project.id)? {
                println!("{:<32} {role}", user.username);
            }
        }
    }
    Ok(())
}

/// Runs a `token` command.
pub(crate) fn token(store: &dyn IdentityStore, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            username,
            name,
            scopes,
            expires_in_days,
        } => {
            let user = admin::find_user(store, &username)?;
            let scopes: Vec<Scope> = scopes.into_iter().map(Scope::from).collect();
            let created = admin::create_personal_token(
                store,
                user.id,
                &name,
                &scopes,
                expiry(expires_in_days)?,
            )?;
            println!(
                "created token {} for {username}; it is shown only now:",
                created.token.id
            );
            println!("{}", created.secret);
        }
        TokenCommand::List { username } => {
            let user = admin::find_user(store, &username)?;
            list_tokens(store, TokenHolder::User(user.id))?;
        }
        TokenCommand::Revoke { id } => revoke_token(store, TokenKind::Personal, id)?,
    }
    Ok(())
}

/// Runs a `deploy-token` command.
pub(crate) fn deploy_token(
    store: &dyn IdentityStore,
    command: DeployTokenCommand,
) -> anyhow::Result<()> {
    match command {
        DeployTokenCommand::Create {
            project,
            username,
            name,
            scopes,
            expires_in_days,
        } => {
            let project = admin::find_project(store, &project)?;
            let scopes: Vec<Scope> = scopes.into_iter().map(Scope::from).collect();
            let created = admin::create_deploy_token(
                store,
                &project,
                username.as_deref(),
                &name,
                &scopes,
                expiry(expires_in_days)?,
            )?;
            let TokenOwner::Project { username, .. } = &created.token.owner else {
                bail!("internal error: a deploy token without a project");
            };
            println!(
                "created deploy token {} for {} with user name {username}; it is shown only now:",
                created.token.id, project.path
            );
            println!("{}", created.secret);
        }
        DeployTokenCommand::List { project } => {
            let project = admin::find_project(store, &project)?;
            list_tokens(store, TokenHolder::Project(project.id))?;
        }
        DeployTokenCommand::Revoke { id } => revoke_token(store, TokenKind::Deploy, id)?,
    }
    Ok(())
}

/// A level as the rule list shows it: `-` for none.
fn level_text(level: Option<AccessLevel>) -> &'static str {
    level.map_or("-", AccessLevel::as_str)
}

/// Runs a `protection-rule` command.
pub(crate) fn protection_rule(
    store: &dyn AccessStore,
    command: ProtectionRuleCommand,
) -> anyhow::Result<()> {
    match command {
        ProtectionRuleCommand::List { project } => {
            let project = admin::find_project(store, &project)?;
            println!(
                "{:<6} {:<8} {:<12} {:<12} PATTERN",
                "ID", "TYPE", "PUSH", "DELETE"
            );
            for rule in store.protection_rules(project.id)? {
                println!(
                    "{:<6} {:<8} {:<12} {:<12} {}",
                    rule.id,
                    rule.package_type,
                    level_text(rule.minimum_access_level_for_push),
                    level_text(rule.minimum_access_level_for_delete),
                    rule.package_name_pattern
                );
            }
        }
        ProtectionRuleCommand::Add {
            project,
            pattern,
            push_level,
            delete_level,
        } => {
            let project = admin::find_project(store, &project)?;
            let package_name_pattern: PackageNamePattern = pattern.parse()?;
            let rule = store.create_protection_rule(
                project.id,
                &NewProtectionRule {
                    package_name_pattern,
                    package_type: PackageType::Conan,
                    minimum_access_level_for_push: push_level.map(AccessLevel::from),
                    minimum_access_level_for_delete: delete_level.map(AccessLevel::from),
                },
            )?;
            println!(
                "created protection rule {} in {}: conan packages named {:?}, push {}, delete {}",
                rule.id,
                project.path,
                rule.package_name_pattern.as_str(),
                level_text(rule.minimum_access_level_for_push),
                level_text(rule.minimum_access_level_for_delete)
            );
        }
        ProtectionRuleCommand::Remove { project, id } => {
            let project = admin::find_project(store, &project)?;
            if !store.delete_protection_rule(project.id, ProtectionRuleId(id))? {
                bail!("no protection rule with id {id} in {}", project.path);
            }
            println!("removed protection rule {id} from {}", project.path);
        }
    }
    Ok(())
}

/// Runs a `signing-key` command.
pub(crate) fn signing_key(
    store: Arc<dyn AccessStore>,
    auth: AuthConfig,
    command: &SigningKeyCommand,
) -> anyhow::Result<()> {
    match *command {
        SigningKeyCommand::Rotate => {
            let id = Authenticator::new(store, auth).rotate_signing_key()?;
            println!("added signing key {id}; new tokens use it");
        }
        SigningKeyCommand::List => {
            println!("{:<6} CREATED", "ID");
            for key in store.signing_keys()? {
                println!("{:<6} {}", key.id, key.created_at);
            }
        }
        SigningKeyCommand::Remove { id } => {
            if !store.remove_signing_key(SigningKeyId(id))? {
                bail!("no signing key with id {id}");
            }
            println!("removed signing key {id}; tokens signed with it no longer work");
        }
    }
    Ok(())
}
