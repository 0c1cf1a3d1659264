//! The `remote` commands: making a project a remote project (a read-only cache of an upstream
//! Conan server), showing and clearing that (see `docs/REMOTE_PROJECTS.md`). A refused change
//! prints why, exits non-zero and changes nothing; credentials are never printed.

#![expect(
    clippy::print_stdout,
    reason = "printing results is what these commands do"
)]

use anyhow::Context;
use clap::Subcommand;
use conan_model::{RecipeReference, Revision, RevisionTime, SearchPattern};
use conan_store::{IdentityStore, MetadataStore, RevisionEntry, SearchScope, VirtualStore};
use conan_upstream::{Credentials, Upstream, UpstreamConfig, Url};
use futures::StreamExt;

use crate::settings::Settings;

/// `remote ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// Make a project a remote project of an upstream Conan server, or change its upstream.
    Set {
        /// The project's path.
        project: String,
        /// The upstream's Conan remote URL, as `conan remote add` takes it.
        #[arg(long)]
        url: String,
        /// The upstream user (with `--password-stdin`); the credentials are sealed with
        /// `remote.credentials_key`.
        #[arg(long, requires = "password_stdin")]
        user: Option<String>,
        /// Read the upstream password or token from standard input.
        #[arg(long, requires = "user")]
        password_stdin: bool,
        /// How long the upstream's revision lists are used before it is asked again.
        #[arg(long, default_value_t = 300)]
        metadata_ttl_secs: u32,
        /// How long an upstream "not found" is kept (0: not kept).
        #[arg(long, default_value_t = 60)]
        not_found_ttl_secs: u32,
    },
    /// Show a project's upstream (whether credentials are set, never them).
    Show {
        /// The project's path.
        project: String,
    },
    /// Make a remote project an ordinary project again (what it cached stays).
    Clear {
        /// The project's path.
        project: String,
    },
    /// List what the project holds that its upstream no longer has: recipe revisions the
    /// upstream does not list any more, or whole recipes it has not got. Changes nothing;
    /// delete what it lists with `conan remove` against the project, if you want it gone.
    Check {
        /// The project's path.
        project: String,
    },
}

fn project_id(store: &dyn IdentityStore, path: &str) -> anyhow::Result<conan_store::ProjectId> {
    Ok(conan_auth::admin::find_project(store, path)?.id)
}

/// Runs a `remote` command.
pub(crate) fn run(
    settings: &Settings,
    store: &dyn MetadataStore,
    command: RemoteCommand,
) -> anyhow::Result<()> {
    match command {
        RemoteCommand::Set {
            project,
            url,
            user,
            password_stdin,
            metadata_ttl_secs,
            not_found_ttl_secs,
        } => {
            let id = project_id(store, &project)?;
            anyhow::ensure!(
                VirtualStore::virtual_layout(store, id)?.is_none(),
                "{project} is a virtual project; a virtual project cannot be a remote project"
            );
            let credentials = match (user, password_stdin) {
                (Some(user), true) => Some(Credentials {
                    user,
                    password: crate::admin_cli::stdin_password()?,
                }),
                _ => None,
            };
            let key = settings.remote.key()?;
            let remote = conan_remote::upstream_settings(
                id,
                conan_remote::UpstreamRequest {
                    url,
                    credentials,
                    kept: None,
                    metadata_ttl_secs,
                    not_found_ttl_secs,
                },
                key.as_ref(),
            )?;
            let now = RevisionTime::from_system_time(std::time::SystemTime::now())?;
            store.set_remote(id, &remote, now)?;
            show(store, &project)
        }
        RemoteCommand::Show { project } => show(store, &project),
        RemoteCommand::Check { project } => check(settings, store, &project),
        RemoteCommand::Clear { project } => {
            let id = project_id(store, &project)?;
            if store.clear_remote(id)? {
                println!("{project} is an ordinary project again (what it cached stays)");
            } else {
                println!("{project} was not a remote project");
            }
            Ok(())
        }
    }
}

fn show(store: &dyn MetadataStore, project: &str) -> anyhow::Result<()> {
    let id = project_id(store, project)?;
    match store.remote(id)? {
        Some(remote) => {
            println!("remote project {project} (id {id})");
            println!("upstream            {}", remote.upstream_url);
            println!(
                "credentials         {}",
                if remote.sealed_credentials.is_some() {
                    "set"
                } else {
                    "none"
                }
            );
            println!("metadata_ttl_secs   {}", remote.metadata_ttl_secs);
            println!("not_found_ttl_secs  {}", remote.not_found_ttl_secs);
        }
        None => println!("{project} is not a remote project"),
    }
    Ok(())
}

/// How many recipes `remote check` asks the upstream about at once.
const CHECK_CONCURRENCY: usize = 8;

/// What the upstream says of one held recipe: its revisions (`None`: it has not got the
/// recipe), or why it could not say.
type Checked = (
    RecipeReference,
    Vec<RevisionEntry>,
    Result<Option<Vec<conan_upstream::RevisionEntry>>, conan_upstream::UpstreamError>,
);

/// `remote check`: every recipe revision the project holds that its upstream no longer lists.
fn check(settings: &Settings, store: &dyn MetadataStore, project: &str) -> anyhow::Result<()> {
    let id = project_id(store, project)?;
    let remote = store
        .remote(id)?
        .ok_or_else(|| anyhow::anyhow!("{project} is not a remote project"))?;
    let mut config = UpstreamConfig::new(
        Url::parse(&remote.upstream_url).context("the stored upstream URL does not parse")?,
    );
    if let Some(sealed) = &remote.sealed_credentials {
        let key = settings.remote.key()?.ok_or_else(|| {
            anyhow::anyhow!("the upstream's credentials need remote.credentials_key")
        })?;
        config.credentials = Some(key.open(id, sealed)?);
    }
    let upstream = Upstream::new(config).map_err(|error| anyhow::anyhow!("{error}"))?;
    let recipes = store.search_recipes(
        &SearchScope::Projects(vec![id]),
        &SearchPattern::all(),
        usize::MAX,
    )?;
    let mut held = Vec::with_capacity(recipes.len());
    for found in recipes {
        let revisions = store.recipe_revisions(id, &found.reference)?;
        held.push((found.reference, revisions));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let upstream = &upstream;
    let mut answers: Vec<Checked> = runtime.block_on(
        futures::stream::iter(held)
            .map(|(recipe, revisions)| async move {
                let answer = upstream.recipe_revisions(&recipe).await;
                (recipe, revisions, answer)
            })
            .buffer_unordered(CHECK_CONCURRENCY)
            .collect(),
    );
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut checked, mut gone) = (0_usize, 0_usize);
    for (recipe, revisions, answer) in answers {
        let listed: Vec<Revision> = match answer {
            Ok(Some(list)) => list.into_iter().map(|entry| entry.revision).collect(),
            Ok(None) => Vec::new(),
            Err(error) => anyhow::bail!(
                "the upstream could not say whether it has {recipe}: {error}; nothing was decided"
            ),
        };
        checked += revisions.len();
        for entry in revisions {
            if !listed.contains(&entry.revision) {
                gone += 1;
                println!("gone  {recipe}#{}", entry.revision);
            }
        }
    }
    println!(
        "{checked} recipe revisions checked against {}: {gone} no longer upstream",
        remote.upstream_url
    );
    Ok(())
}
