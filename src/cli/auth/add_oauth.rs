//! The OAuth branch of `hermes auth add`: settings → the provider's login flow → one line.

use super::add::AddSettings;
use crate::cli::{CliError, say};
use crate::pool::PoolContext;
use crate::providers::oauth::{codex, copilot, minimax, nous, xai};

pub fn run(ctx: &PoolContext, s: &AddSettings) -> Result<(), CliError> {
    let o = &s.oauth;
    match s.pool_key.as_str() {
        "nous" => {
            let label = nous::login(
                ctx,
                &nous::LoginSettings {
                    label: s.label.clone(),
                    portal_url: o.portal_url.clone(),
                    inference_url: o.inference_url.clone(),
                    client_id: o.client_id.clone(),
                    scope: o.scope.clone(),
                    no_browser: o.no_browser,
                    timeout: o.timeout,
                    insecure: o.insecure,
                    ca_bundle: o.ca_bundle.clone(),
                    min_key_ttl: o.min_key_ttl_seconds,
                },
            )?;
            say(format!(
                "Saved nous OAuth device-code credentials: \"{label}\""
            ));
        }
        "openai-codex" => {
            let (n, label) = codex::login(
                ctx,
                &codex::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                },
            )?;
            say(format!(
                "Added openai-codex OAuth credential #{n}: \"{label}\""
            ));
        }
        "xai-oauth" => {
            let (n, label) = xai::login(
                ctx,
                &xai::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!(
                "Added xai-oauth OAuth credential #{n}: \"{label}\""
            ));
        }
        "minimax-oauth" => {
            let (n, label) = minimax::login(
                ctx,
                &minimax::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!(
                "Added minimax-oauth OAuth credential #{n}: \"{label}\""
            ));
        }
        "copilot" => {
            let path = copilot::device_login(
                ctx,
                &copilot::LoginSettings {
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!("Saved COPILOT_GITHUB_TOKEN to {}", path.display()));
        }
        other => {
            return Err(CliError::failure(format!("no OAuth login for {other}")));
        }
    }
    Ok(())
}
