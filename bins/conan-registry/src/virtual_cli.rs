//! The `virtual` commands: the members of a virtual project, their order, and its deploy
//! member (see `docs/VIRTUAL_PROJECTS.md`). Every change is checked by conan-auth and the store
//! before anything is written; a refused change prints why, exits non-zero and changes nothing.

#![expect(
    clippy::print_stdout,
    reason = "printing results is what these commands do"
)]

use clap::Subcommand;
use conan_auth::virtuals::{self, Position, VirtualView};
use conan_store::AccessStore;

/// `virtual ...`
#[derive(Debug, Subcommand)]
pub(crate) enum VirtualCommand {
    /// Add a member project to a virtual project (at the end, or at `--position`).
    Add {
        /// The virtual project's path.
        project: String,
        /// The member project's path (an ordinary project, not a virtual one).
        member: String,
        /// The 1-based position; later members move down.
        #[arg(long)]
        position: Option<usize>,
    },
    /// Move a member to another 1-based position.
    Move {
        /// The virtual project's path.
        project: String,
        /// The member project's path.
        member: String,
        /// The new 1-based position.
        position: usize,
    },
    /// Remove a member (clearing the deploy member when it was that one).
    Remove {
        /// The virtual project's path.
        project: String,
        /// The member project's path.
        member: String,
    },
    /// Set the member uploads go to, or clear it with `--clear` (uploads are then refused).
    Deploy {
        /// The virtual project's path.
        project: String,
        /// The member project's path.
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        member: Option<String>,
        /// Clear the deploy member.
        #[arg(long)]
        clear: bool,
    },
    /// List a virtual project's members in order, and its deploy member.
    List {
        /// The virtual project's path.
        project: String,
    },
}

fn position(position: Option<usize>) -> Position {
    position.map_or(Position::End, Position::At)
}

fn print(view: &VirtualView) {
    println!(
        "virtual project {} (id {})",
        view.project.path, view.project.id
    );
    println!("{:<4} {:<6} {:<48} DEPLOY", "POS", "ID", "MEMBER");
    for (index, member) in view.members.iter().enumerate() {
        let deploy = view
            .deploy
            .as_ref()
            .is_some_and(|deploy| deploy.id == member.id);
        println!(
            "{:<4} {:<6} {:<48} {}",
            index + 1,
            member.id,
            member.path,
            if deploy { "yes" } else { "" }
        );
    }
    if view.deploy.is_none() {
        println!("no deploy member: uploads and deletes through this project are refused");
    }
}

/// Runs a `virtual` command.
pub(crate) fn run(store: &dyn AccessStore, command: VirtualCommand) -> anyhow::Result<()> {
    let view = match command {
        VirtualCommand::Add {
            project,
            member,
            position: at,
        } => virtuals::add_member(store, &project, &member, position(at))?,
        VirtualCommand::Move {
            project,
            member,
            position: at,
        } => virtuals::move_member(store, &project, &member, Position::At(at))?,
        VirtualCommand::Remove { project, member } => {
            virtuals::remove_member(store, &project, &member)?
        }
        VirtualCommand::Deploy {
            project, member, ..
        } => virtuals::set_deploy_member(store, &project, member.as_deref())?,
        VirtualCommand::List { project } => virtuals::view(store, &project)?,
    };
    print(&view);
    Ok(())
}
