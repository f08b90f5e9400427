//! `auth status` hooks of the PKCE / import providers.

use crate::pool::{PoolContext, PoolError};
use crate::providers::status::Status;

/// A complete status answer for providers whose login state lives outside the pool
/// (`google-gemini-cli`, `qwen-oauth`); `None` for the others.
pub fn status_for(_ctx: &PoolContext, _key: &str) -> Result<Option<Status>, PoolError> {
    Ok(None)
}

/// Work to do before the stored-state answer: refreshes expiring Anthropic OAuth entries.
/// Returns a failure to report beside the (kept) login.
pub fn refresh_before_status(ctx: &PoolContext, key: &str) -> Result<Option<String>, PoolError> {
    match key {
        "anthropic" => super::anthropic::refresh_expiring(ctx),
        _ => Ok(None),
    }
}
