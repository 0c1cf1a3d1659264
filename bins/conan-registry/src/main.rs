//! The `conan-registry` binary: command line, configuration, wiring and serving.
//!
//! Only the command-line surface exists so far. The storage, identity and API layers that `serve`
//! composes are built by later issues; until then `serve` says so and exits with status 2 rather
//! than pretending to run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hosted Conan package registry, wire-compatible with GitLab's Conan API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Conan API (not available yet: the HTTP layer is not built).
    Serve,
    /// Check Conan references and print them in canonical and URL form.
    CheckRef {
        /// References such as `zlib/1.3` or `pkg/1.0@user/channel#rrev:package_id#prev`.
        #[arg(required = true)]
        references: Vec<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve => {
            eprintln!(
                "conan-registry: `serve` is not available yet: the storage, identity and HTTP \
                 layers it composes are still to be built (see the README's status section)."
            );
            ExitCode::from(2)
        }
        Command::CheckRef { references } => check_refs(&references),
    }
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
