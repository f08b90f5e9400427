//! `hermes auth logout <provider>`.

use clap::Args;

use crate::cli::CliError;
use crate::providers::logout::is_logout_target;

#[derive(Debug, Args)]
pub struct AuthLogoutArgs {
    /// Provider id
    pub provider: String,
}

pub fn run(args: AuthLogoutArgs) -> Result<(), CliError> {
    if !is_logout_target(args.provider.trim()) {
        return Err(CliError::unknown_provider(&args.provider));
    }
    crate::cli::logout::print_logout(Some(args.provider.trim()))
}
