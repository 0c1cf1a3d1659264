#![doc = include_str!("../README.md")]

mod admin_cli;
mod cleanup_cli;
mod log_writer;
mod maintenance;
mod probes;
mod remote_cli;
mod serve;
mod settings;
mod telemetry;
mod virtual_cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use conan_store::AccessStore;

use crate::settings::{Overrides, Settings};

/// A self-hosted Conan package registry, wire-compatible with GitLab's Conan API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML configuration file (also `CONAN_REGISTRY_CONFIG`).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data directory of the embedded defaults (default `./data`).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Conan API (first start on an empty database creates an administrator).
    Serve {
        /// The address to listen on (default 127.0.0.1:9300).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Delete blobs no file references any more, and stale uploads.
    Gc(maintenance::GcOptions),
    /// Re-hash every stored blob and report any that is missing or no longer matches.
    Verify,
    /// Show or write the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    User(admin_cli::UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(admin_cli::ProjectCommand),
    /// Manage project memberships.
    #[command(subcommand)]
    Member(admin_cli::MemberCommand),
    /// Manage virtual projects' members and deploy member (`project create --virtual` makes one).
    #[command(subcommand)]
    Virtual(virtual_cli::VirtualCommand),
    /// Manage remote projects: read-only caches of an upstream Conan server
    /// (`docs/REMOTE_PROJECTS.md`).
    #[command(subcommand)]
    Remote(remote_cli::RemoteCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(admin_cli::TokenCommand),
    /// Manage deploy tokens.
    #[command(subcommand)]
    DeployToken(admin_cli::DeployTokenCommand),
    /// Manage the keys that sign Conan tokens.
    #[command(subcommand)]
    SigningKey(admin_cli::SigningKeyCommand),
    /// Manage package protection rules (who may push or delete which packages).
    #[command(subcommand)]
    ProtectionRule(admin_cli::ProtectionRuleCommand),
    /// Manage cleanup policies: show, set, dry-run, run now, and the record of runs.
    #[command(subcommand)]
    Cleanup(cleanup_cli::CleanupCommand),
    /// Check Conan references and print them in canonical and URL form.
    CheckRef {
        /// References such as `zlib/1.3` or `pkg/1.0@user/channel#rrev:package_id#prev`.
        #[arg(required = true)]
        references: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment, flags) with secrets
    /// redacted.
    Show,
    /// Write a commented example configuration with every key and its default.
    Init {
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// The commented example configuration, also shipped as `deploy/conan-registry.example.toml`.
const EXAMPLE_CONFIG: &str = include_str!("../../../deploy/conan-registry.example.toml");

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // One clear line (with its causes), never a panic or a backtrace.
            eprintln!("conan-registry: error: {}", one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line: each cause once (a message that already quotes its
/// cause is not repeated), whitespace and line breaks collapsed.
pub(crate) fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    for cause in std::iter::successors(Some(error), |cause| cause.source()) {
        let message = cause.to_string();
        if text.contains(message.trim()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let bind = match &cli.command {
        Command::Serve { bind } => bind.clone(),
        _ => None,
    };
    if let Command::CheckRef { references } = &cli.command {
        return Ok(check_refs(references));
    }
    if let Command::Config(ConfigCommand::Init { output, force }) = &cli.command {
        write_example(output.as_deref(), *force)?;
        return Ok(ExitCode::SUCCESS);
    }
    let settings = Settings::load(&Overrides {
        config_file: cli.config,
        data_dir: cli.data_dir,
        bind,
    })?;
    match cli.command {
        Command::Serve { .. } => {
            // Held until the server has stopped: dropping it writes out the queued log lines.
            let _log_writer = telemetry::init_logging(&settings.log)?;
            actix_web::rt::System::new().block_on(serve::serve(settings))?;
        }
        Command::Gc(options) => maintenance::gc(&settings, &options)?,
        Command::Verify => {
            if !maintenance::verify(&settings)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Config(ConfigCommand::Show) => {
            print_stdout(&settings.to_redacted_toml()?);
        }
        Command::Migrate => {
            let store = serve::open_metadata(&settings)?;
            eprintln!(
                "conan-registry: the {} database is up to date",
                store.backend()
            );
        }
        Command::User(command) => admin_cli::user(&*identity(&settings)?, command)?,
        Command::Project(command) => admin_cli::project(&metadata(&settings)?, command)?,
        Command::Member(command) => admin_cli::member(&*identity(&settings)?, command)?,
        Command::Virtual(command) => virtual_cli::run(&*identity(&settings)?, command)?,
        Command::Remote(command) => remote_cli::run(&settings, &metadata(&settings)?, command)?,
        Command::Token(command) => admin_cli::token(&*identity(&settings)?, command)?,
        Command::DeployToken(command) => admin_cli::deploy_token(&*identity(&settings)?, command)?,
        Command::SigningKey(command) => {
            admin_cli::signing_key(identity(&settings)?, settings.auth.clone(), &command)?;
        }
        Command::ProtectionRule(command) => {
            admin_cli::protection_rule(&*identity(&settings)?, command)?;
        }
        Command::Cleanup(command) => {
            let store: Arc<dyn conan_store::MetadataStore> = Arc::new(metadata(&settings)?);
            cleanup_cli::cleanup(&settings, &store, command)?;
        }
        Command::CheckRef { .. } | Command::Config(ConfigCommand::Init { .. }) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the example configuration to `output`, or standard output.
fn write_example(output: Option<&std::path::Path>, force: bool) -> anyhow::Result<()> {
    let Some(path) = output else {
        print_stdout(EXAMPLE_CONFIG);
        return Ok(());
    };
    anyhow::ensure!(
        force || !path.exists(),
        "{} exists already; pass --force to overwrite it",
        path.display()
    );
    std::fs::write(path, EXAMPLE_CONFIG)
        .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", path.display()))?;
    eprintln!("conan-registry: wrote {}", path.display());
    Ok(())
}

/// Prints a command's output.
#[expect(clippy::print_stdout, reason = "printing is these commands' job")]
fn print_stdout(text: &str) {
    print!("{text}");
}

/// The identity and protection rule store the admin commands work on.
fn identity(settings: &Settings) -> anyhow::Result<Arc<dyn AccessStore>> {
    Ok(Arc::new(metadata(settings)?))
}

/// The configured metadata database, creating the data directory an embedded one lives in.
fn metadata(settings: &Settings) -> anyhow::Result<conan_store::db::DieselStore> {
    std::fs::create_dir_all(settings.data_dir()).ok();
    serve::open_metadata(settings)
}

/// Parses each reference with the domain model and reports it, so the rules can be tried by hand.
#[expect(
    clippy::print_stdout,
    reason = "printing the verdicts is this command's job"
)]
fn check_refs(references: &[String]) -> ExitCode {
    let mut failed = false;
    for text in references {
        match text.parse::<conan_model::FullReference>() {
            Ok(reference) => {
                let recipe = reference.recipe();
                println!("ok      {reference}  (URL path: {})", recipe.url_path());
            }
            Err(error) => {
                failed = true;
                eprintln!("invalid {text:?}: {error}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
