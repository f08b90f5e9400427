//! `hermes auth reset <provider> [--restore-sources]`.

use clap::Args;

use crate::cli::{CliError, context, say};
use crate::pool::{CredentialPool, manage};
use crate::providers::normalize_provider;

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Provider id
    pub provider: String,
    /// Also re-enable sources that `hermes auth remove` suppressed (env vars, config keys, logins)
    #[arg(long)]
    pub restore_sources: bool,
}

pub fn run(args: ResetArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let key = normalize_provider(&args.provider, &ctx.config);
    let mut pool = CredentialPool::load(&ctx, &key)?;
    let n = pool.reset_statuses()?;
    say(format!("Reset status on {n} {key} credentials"));
    if args.restore_sources {
        let restored = manage::restore_sources(&ctx, &key)?;
        if restored.is_empty() {
            say(format!("No suppressed sources for {key}."));
        }
        for s in restored {
            say(format!(
                "Re-enabled {s} — it will be seeded again on the next load."
            ));
        }
    }
    Ok(())
}
