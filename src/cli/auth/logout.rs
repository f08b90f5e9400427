//! `hermes auth logout <provider>`.

use clap::Args;

use crate::cli::CliError;
use crate::providers::logout::is_logout_target;
use crate::providers::registry;

#[derive(Debug, Args)]
pub struct AuthLogoutArgs {
    /// Provider id
    pub provider: String,
}

pub fn run(args: AuthLogoutArgs) -> Result<(), CliError> {
    // Case-insensitive, and CLI aliases (`or`, `grok-oauth`) name the same provider as in
    // `auth add|list|remove|reset`.
    let lower = args.provider.trim().to_lowercase();
    let id = registry()
        .by_alias(&lower)
        .map(|p| p.id.clone())
        .unwrap_or(lower);
    if !is_logout_target(&id) {
        return Err(CliError::unknown_provider(args.provider.trim()));
    }
    crate::cli::logout::print_logout(Some(&id))
}
