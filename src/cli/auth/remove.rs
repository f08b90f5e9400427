//! `hermes auth remove <provider> <index|id|label>`.

use clap::Args;

use crate::cli::{CliError, context, say};
use crate::pool::{CredentialPool, PoolError, manage};
use crate::providers::normalize_provider;
use crate::store::AuthStore;

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Provider id
    pub provider: String,
    /// Credential index, entry id, or exact label
    pub target: String,
}

pub fn run(args: RemoveArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let key = normalize_provider(&args.provider, &ctx.config);
    if !manage::is_addable(&key) && !AuthStore::load(&ctx.home)?.has_pool(&key) {
        return Err(CliError::unknown_provider(&key));
    }
    let mut pool = CredentialPool::load(&ctx, &key)?;
    let removed = match pool.remove(&args.target) {
        Ok(r) => r,
        Err(PoolError::Target(t)) => {
            return Err(
                CliError::not_found(format!("{t} Provider: {key}.")).hint(format!(
                    "run `hermes auth list {key}` to see the credentials"
                )),
            );
        }
        Err(e) => return Err(e.into()),
    };
    say(format!(
        "Removed {key} credential #{} ({})",
        removed.index, removed.entry.label
    ));
    let cleanup = manage::cleanup_after_remove(&ctx, &key, &removed.entry)?;
    for line in cleanup.lines {
        say(line);
    }
    Ok(())
}
