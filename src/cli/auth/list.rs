//! `hermes auth list [provider] [--json]`.

use clap::Args;
use serde::Serialize;

use crate::cli::{CliError, context, say};
use crate::pool::{CredentialPool, PoolContext, report};
use crate::providers::{normalize_provider, registry};
use crate::store::AuthStore;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Optional provider filter
    pub provider: Option<String>,
    /// Print JSON (`{"schema": 1, "pools": [...]}`) instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct PoolListing {
    pub provider: String,
    pub strategy: &'static str,
    pub credentials: Vec<report::Row>,
}

/// Every non-empty pool (or just `only`), in `auth list` order.
pub fn collect(ctx: &PoolContext, only: Option<&str>) -> Result<Vec<PoolListing>, CliError> {
    let store = AuthStore::load(&ctx.home)?;
    let keys: Vec<String> = match only {
        Some(p) => vec![normalize_provider(p, &ctx.config)],
        None => {
            let mut keys: Vec<String> = registry()
                .sorted_ids()
                .into_iter()
                .map(str::to_string)
                .collect();
            keys.extend(
                store
                    .pool_keys()
                    .into_iter()
                    .filter(|k| k.starts_with("custom:") && !store.pool_entries(k).is_empty()),
            );
            keys.sort();
            keys.dedup();
            keys
        }
    };
    let mut out = Vec::new();
    for key in keys {
        let mut pool = CredentialPool::load_from(ctx, &store, &key)?;
        if !pool.has_credentials() {
            continue;
        }
        let strategy = pool.strategy().as_str();
        let credentials = report::rows(&mut pool)?;
        out.push(PoolListing {
            provider: pool.key().to_string(),
            strategy,
            credentials,
        });
        // The process ends right after listing: freeing thousands of small allocations one by
        // one was ~15% of `auth list` on a big pool. The OS reclaims them at exit.
        std::mem::forget(pool);
    }
    std::mem::forget(store);
    Ok(out)
}

/// The table, exactly as the reference prints it.
pub fn render(listings: &[PoolListing]) -> String {
    let mut s = String::new();
    for l in listings {
        s.push_str(&format!(
            "{} ({} credentials):\n",
            l.provider,
            l.credentials.len()
        ));
        for r in &l.credentials {
            let status = if r.status_text.is_empty() {
                String::new()
            } else {
                format!(" {}", r.status_text)
            };
            let marker = if r.current { " ←" } else { "" };
            let line = format!(
                "  #{}  {:<20} {:<7} {}{}{}",
                r.index, r.label, r.auth_type, r.source, status, marker
            );
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

pub fn run(args: ListArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let listings = collect(&ctx, args.provider.as_deref())?;
    if args.json {
        let doc = serde_json::json!({"schema": 1, "pools": listings});
        say(serde_json::to_string_pretty(&doc).expect("serializable"));
    } else {
        let text = render(&listings);
        if !text.is_empty() {
            say(text.trim_end_matches('\n').to_string() + "\n");
        }
    }
    std::mem::forget(listings);
    Ok(())
}
