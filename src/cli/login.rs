//! `hermes login`: removed in the reference; kept so old scripts get a pointer, not an error.

use clap::Args;

use super::{CliError, say};

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(long, hide = true)]
    provider: Option<String>,
    #[arg(long, hide = true)]
    portal_url: Option<String>,
    #[arg(long, hide = true)]
    inference_url: Option<String>,
    #[arg(long, hide = true)]
    client_id: Option<String>,
    #[arg(long, hide = true)]
    scope: Option<String>,
    #[arg(long, hide = true)]
    no_browser: bool,
    #[arg(long, hide = true)]
    timeout: Option<f64>,
    #[arg(long, hide = true)]
    ca_bundle: Option<String>,
    #[arg(long, hide = true)]
    insecure: bool,
}

pub fn run(_args: LoginArgs) -> Result<(), CliError> {
    say("The 'hermes login' command has been removed.");
    say("Use 'hermes auth' to manage credentials,");
    say("'hermes model' to select a provider, or 'hermes setup' for full setup.");
    Ok(())
}
