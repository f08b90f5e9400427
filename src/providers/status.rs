//! `hermes auth status <provider>`: whether a provider has a usable login or key.
//!
//! This module answers from what is stored (and the environment). OAuth providers that refresh
//! on status plug their refresh in through the pool's [`TokenRefresher`](crate::pool::TokenRefresher).

use serde::Serialize;
use serde_json::Value;

use super::{AuthKind, OPENROUTER, registry};
use crate::pool::{CredentialPool, PoolContext, PoolError};
use crate::store::AuthStore;

/// A provider's login state.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    pub provider: String,
    pub logged_in: bool,
    /// Why it is logged out (or what went wrong while checking).
    pub error: Option<String>,
    /// `auth_type`, `client_id`, `redirect_uri`, `scope`, `expires_at`, `api_base_url`, when known.
    pub details: Vec<(String, String)>,
}

impl Status {
    pub fn out(provider: &str, error: Option<&str>) -> Self {
        Self {
            provider: provider.into(),
            logged_in: false,
            error: error.map(str::to_string),
            details: vec![],
        }
    }
    pub fn ok(provider: &str) -> Self {
        Self {
            provider: provider.into(),
            logged_in: true,
            ..Self::default()
        }
    }
}

fn str_at<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn pool_usable(ctx: &PoolContext, store: &AuthStore, key: &str) -> Result<bool, PoolError> {
    let mut pool = CredentialPool::load_from(ctx, store, key)?;
    Ok(pool.peek()?.is_some())
}

/// Computes the status of `key` (already normalized). OAuth providers whose access token is
/// unusable refresh it first (see `oauth::pkce_status`).
pub fn status(ctx: &PoolContext, key: &str) -> Result<Status, PoolError> {
    if let Some(st) = super::oauth::pkce_status::status_for(ctx, key)? {
        return Ok(st);
    }
    let note = super::oauth::pkce_status::refresh_before_status(ctx, key)?;
    let mut st = stored_status(ctx, key)?;
    if let Some(n) = note {
        st.details.push(("refresh_error".into(), n));
    }
    Ok(st)
}

/// The status of `key` from what is stored (and the environment), without any network call.
fn stored_status(ctx: &PoolContext, key: &str) -> Result<Status, PoolError> {
    let store = AuthStore::load(&ctx.home)?;
    let now = ctx.now();
    let provider = registry().get(key);
    match key {
        "nous" => {
            let has = store.provider_state("nous").is_some_and(|s| {
                str_at(s, "access_token").is_some() || str_at(s, "agent_key").is_some()
            });
            if has || pool_usable(ctx, &store, key)? {
                return Ok(Status::ok(key));
            }
            let err = store
                .provider_state("nous")
                .and_then(|s| s.get("last_auth_error"))
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str);
            Ok(Status::out(key, err))
        }
        "openai-codex" | "xai-oauth" => {
            if pool_usable(ctx, &store, key)? {
                return Ok(Status::ok(key));
            }
            let msg = if key == "openai-codex" {
                "No Codex credentials stored. Run `hermes auth` to authenticate."
            } else {
                "No xAI OAuth credentials stored. Select xAI Grok OAuth (SuperGrok / Premium+) in `hermes model`."
            };
            let stored = store
                .provider_state(key)
                .and_then(|s| s.get("last_auth_error"))
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str);
            Ok(Status::out(key, Some(stored.unwrap_or(msg))))
        }
        "qwen-oauth" => {
            let found = ctx
                .user_home
                .as_ref()
                .is_some_and(|h| h.join(".qwen/oauth_creds.json").is_file());
            if found {
                Ok(Status::ok(key))
            } else {
                Ok(Status::out(
                    key,
                    Some("Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first."),
                ))
            }
        }
        "minimax-oauth" => {
            let Some(s) = store.provider_state(key) else {
                return Ok(Status::out(key, None));
            };
            let exp = str_at(s, "expires_at");
            if exp
                .and_then(crate::timefmt::parse_iso)
                .is_some_and(|e| e > now)
            {
                let mut st = Status::ok(key);
                st.details
                    .push(("expires_at".into(), exp.unwrap_or_default().into()));
                Ok(st)
            } else {
                Ok(Status::out(key, None))
            }
        }
        "spotify" => {
            let Some(s) = store.provider_state("spotify") else {
                return Ok(Status::out(key, None));
            };
            let live = str_at(s, "refresh_token").is_some()
                || str_at(s, "expires_at")
                    .and_then(crate::timefmt::parse_iso)
                    .is_some_and(|e| e > now);
            if !live {
                return Ok(Status::out(key, None));
            }
            let mut st = Status::ok(key);
            st.details.push((
                "auth_type".into(),
                str_at(s, "auth_type").unwrap_or("oauth_pkce").into(),
            ));
            for k in [
                "client_id",
                "redirect_uri",
                "scope",
                "expires_at",
                "api_base_url",
            ] {
                // The scope shown is what Spotify granted, which may be less than what was asked.
                let v = if k == "scope" {
                    str_at(s, "granted_scope").or(str_at(s, k))
                } else {
                    str_at(s, k)
                };
                if let Some(v) = v {
                    st.details.push((k.into(), v.into()));
                }
            }
            Ok(st)
        }
        _ => {
            if let Some(p) = provider {
                if p.auth == AuthKind::AwsSdk {
                    let has = [
                        "AWS_ACCESS_KEY_ID",
                        "AWS_PROFILE",
                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                    ]
                    .iter()
                    .any(|v| ctx.env.lookup(v).is_some());
                    return Ok(if has {
                        Status::ok(key)
                    } else {
                        Status::out(key, None)
                    });
                }
                if p.auth == AuthKind::ApiKey
                    && p.id != OPENROUTER
                    && p.seed_env_vars.iter().any(|v| ctx.env.lookup(v).is_some())
                {
                    return Ok(Status::ok(key));
                }
            }
            if (provider.is_some() || key.starts_with("custom:")) && pool_usable(ctx, &store, key)?
            {
                return Ok(Status::ok(key));
            }
            Ok(Status::out(key, None))
        }
    }
}
