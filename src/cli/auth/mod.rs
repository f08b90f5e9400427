//! `hermes auth …`: one file per subcommand; bare `hermes auth` is the menu.

pub mod add;
pub mod add_oauth;
pub mod list;
pub mod logout;
pub mod menu;
pub mod oauth_pkce;
pub mod remove;
pub mod reset;
pub mod spotify;
pub mod status;

use clap::{Args, Subcommand};

use super::CliError;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: Option<AuthCommand>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Add a pooled credential
    Add(add::AddArgs),
    /// List pooled credentials
    List(list::ListArgs),
    /// Remove a pooled credential by index, id, or label
    Remove(remove::RemoveArgs),
    /// Clear exhaustion status for all credentials for a provider
    Reset(reset::ResetArgs),
    /// Show auth status for a provider
    Status(status::StatusArgs),
    /// Log out of a provider and clear its stored credentials
    Logout(logout::AuthLogoutArgs),
    /// Authenticate Hermes with Spotify via PKCE
    Spotify(spotify::SpotifyArgs),
}

pub fn run(args: AuthArgs) -> Result<(), CliError> {
    match args.command {
        None => menu::run(),
        Some(AuthCommand::Add(a)) => add::run(a),
        Some(AuthCommand::List(a)) => list::run(a),
        Some(AuthCommand::Remove(a)) => remove::run(a),
        Some(AuthCommand::Reset(a)) => reset::run(a),
        Some(AuthCommand::Status(a)) => status::run(a),
        Some(AuthCommand::Logout(a)) => logout::run(a),
        Some(AuthCommand::Spotify(a)) => spotify::run(a),
    }
}
