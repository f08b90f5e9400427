//! `hermes auth status <provider> [--json]`.

use clap::Args;

use crate::cli::{CliError, context, say};
use crate::providers::{normalize_provider, status::status};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Provider id
    pub provider: String,
    /// Print JSON (`{"schema": 1, "provider": …, "logged_in": …}`)
    #[arg(long)]
    pub json: bool,
    /// Also print auth type, client id, scope, expiry and base URL of an OAuth login
    #[arg(long, short)]
    pub verbose: bool,
}

pub fn run(args: StatusArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let key = normalize_provider(&args.provider, &ctx.config);
    let st = status(&ctx, &key)?;
    if args.json {
        let details: serde_json::Map<String, serde_json::Value> = st
            .details
            .iter()
            .chain(st.more.iter())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let doc = serde_json::json!({
            "schema": 1,
            "provider": st.provider,
            "logged_in": st.logged_in,
            "error": st.error,
            "details": details,
            "warning": st.warning,
        });
        say(serde_json::to_string_pretty(&doc).expect("serializable"));
        return Ok(());
    }
    if st.logged_in {
        say(format!("{}: logged in", st.provider));
        for (k, v) in &st.details {
            say(format!("  {k}: {v}"));
        }
        if args.verbose {
            for (k, v) in &st.more {
                say(format!("  {k}: {v}"));
            }
        }
        if let Some(w) = &st.warning {
            say(format!("  warning: {w}"));
        }
    } else if let Some(e) = &st.error {
        say(format!("{}: logged out ({e})", st.provider));
    } else {
        say(format!("{}: logged out", st.provider));
    }
    Ok(())
}
