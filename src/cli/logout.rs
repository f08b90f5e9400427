//! `hermes logout [--provider P]`: log out of the active (or named) OAuth provider.

use clap::{Args, ValueEnum};

use super::{CliError, context, say};
use crate::providers::logout::{LogoutOutcome, logout};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogoutProvider {
    Nous,
    #[value(name = "openai-codex")]
    OpenaiCodex,
    #[value(name = "xai-oauth")]
    XaiOauth,
    Spotify,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Provider to log out from (default: active provider)
    #[arg(long, value_enum)]
    pub provider: Option<LogoutProvider>,
}

pub fn run(args: LogoutArgs) -> Result<(), CliError> {
    let name = args
        .provider
        .map(|p| p.to_possible_value().expect("named").get_name().to_string());
    print_logout(name.as_deref())
}

/// Runs a logout and prints the reference's lines (shared with `hermes auth logout`).
pub fn print_logout(target: Option<&str>) -> Result<(), CliError> {
    let ctx = context()?;
    match logout(&ctx.home, target, &ctx.env)? {
        LogoutOutcome::NothingActive => say("No provider is currently logged in."),
        LogoutOutcome::NoState { display } => say(format!("No auth state found for {display}.")),
        LogoutOutcome::LoggedOut {
            display,
            config_line,
        } => {
            say(format!("Logged out of {display}."));
            say(config_line);
        }
    }
    Ok(())
}
