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
    /// Further OAuth details the reference does not print (auth type, client id, scope, expiry,
    /// base URL): in `--json` always, in text with `--verbose`.
    pub more: Vec<(String, String)>,
    /// Logged in, but a refresh attempted while checking failed transiently (login kept).
    pub warning: Option<String>,
}

impl Status {
    pub fn out(provider: &str, error: Option<&str>) -> Self {
        Self {
            provider: provider.into(),
            logged_in: false,
            error: error.map(str::to_string),
            details: vec![],
            more: vec![],
            warning: None,
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

fn from_oauth(
    key: &str,
    r: Result<crate::providers::oauth::OAuthStatus, crate::providers::oauth::OAuthError>,
) -> Result<Status, PoolError> {
    Ok(match r {
        Ok(st) if st.logged_in => {
            // The reference prints MiniMax's expiry; everything else is extra.
            let (details, more) = st
                .details
                .into_iter()
                .partition(|(k, _)| key == "minimax-oauth" && k == "expires_at");
            Status {
                provider: key.into(),
                logged_in: true,
                error: None,
                details,
                more,
                warning: st.warning,
            }
        }
        Ok(st) => Status::out(key, st.error.as_deref()),
        Err(e) => Status::out(key, Some(&e.message)),
    })
}

/// Status of a pool of refreshable OAuth rows: the first available row, refreshed when its
/// access token is expired or inside the refresh margin (single-flight). A transient refresh
/// failure keeps the login and is reported as a warning; a terminal one means logged out.
fn oauth_pool_status(
    ctx: &PoolContext,
    store: &AuthStore,
    key: &str,
) -> Result<Option<Status>, PoolError> {
    let mut pool = CredentialPool::load_from(ctx, store, key)?;
    let Some(entry) = pool.peek()? else {
        return Ok(None);
    };
    let now = ctx.now();
    let mut warning = None;
    let mut shown = entry.clone();
    // Read-only: spend a refresh token only when the access token is (nearly) unusable, not
    // merely inside a provider's wider proactive margin (xAI: an hour).
    if let Some(r) = ctx.refresher.clone()
        && r.needs_refresh(key, &entry, now)
        && crate::providers::oauth::refresh::hard_expiring(&entry, now)
    {
        match r.refresh(ctx, key, &entry) {
            Ok(e) => shown = e,
            Err(PoolError::Refresh { message, .. }) => {
                let fresh = AuthStore::load(&ctx.home)?;
                let still = fresh.pool_entries(key).into_iter().any(|m| {
                    m.get("id").and_then(Value::as_str) == Some(entry.id.as_str())
                        && m.get("last_status").and_then(Value::as_str) != Some("dead")
                });
                if !still {
                    return Ok(Some(Status::out(key, Some(&message))));
                }
                warning = Some(format!("token refresh failed, login kept: {message}"));
            }
            Err(e) => return Err(e),
        }
    }
    let mut st = Status::ok(key);
    st.more
        .push(("auth_type".into(), "oauth_device_code".into()));
    st.more.push(("label".into(), shown.label.clone()));
    if let Some(exp) = shown.access_token.as_deref().and_then(crate::jwt::exp) {
        st.more
            .push(("expires_at".into(), crate::timefmt::iso_utc_micros(exp)));
    }
    if let Some(b) = shown.base_url.as_deref() {
        st.more.push(("api_base_url".into(), b.into()));
    }
    st.warning = warning;
    Ok(Some(st))
}

/// Computes the status of `key` (already normalized). OAuth providers refresh an access token
/// that is expired or about to expire (never a usable one).
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
            let st = crate::providers::oauth::nous::status(ctx)?;
            if st.logged_in {
                return Ok(Status {
                    provider: key.into(),
                    logged_in: true,
                    error: None,
                    details: vec![],
                    more: st.details,
                    warning: st.warning,
                });
            }
            if st.error.is_none() && pool_usable(ctx, &store, key)? {
                return Ok(Status::ok(key));
            }
            Ok(Status::out(key, st.error.as_deref()))
        }
        "openai-codex" | "xai-oauth" => {
            if let Some(st) = oauth_pool_status(ctx, &store, key)? {
                return Ok(st);
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
        "minimax-oauth" => from_oauth(key, crate::providers::oauth::minimax::status(ctx)),
        "copilot" => from_oauth(key, crate::providers::oauth::copilot::status(ctx)),
        "spotify" => {
            let Some(s) = store.provider_state("spotify") else {
                return Ok(Status::out(key, None));
            };
            let live = str_at(s, "refresh_token").is_some()
                || str_at(s, "expires_at")
                    .and_then(crate::timefmt::parse_iso)
                    .is_some_and(|e| e > now);
            if !live {
                // A quarantined login (refresh rejected) says why.
                let reason = s
                    .get("last_auth_error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str);
                return Ok(Status::out(key, reason));
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
