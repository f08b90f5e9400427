//! MiniMax OAuth (`minimax-oauth`): MiniMax's user-code grant with PKCE (not RFC 8628: the
//! code request carries the PKCE challenge and a `state`, polls send the verifier), and refresh.
//!
//! `HERMES_MINIMAX_OAUTH_BASE` replaces `https://api.minimax.io` (`/oauth/code`, `/oauth/token`).

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::http::{self, HttpOptions, Reply};
use super::refresh::{Rotated, RowRefresh, single_flight};
use super::{BrowserPolicy, ErrorKind, OAuthError, env_nonempty, jsecs, jstr, say, scaled};
use crate::envvars;
use crate::pool::entry::{AUTH_OAUTH, PoolEntry};
use crate::pool::{CredentialPool, PoolContext};
use crate::store::{AuthStore, StoreLock};
use crate::timefmt::{iso_utc_micros, parse_iso};

pub const ID: &str = "minimax-oauth";
pub const DISPLAY: &str = "MiniMax OAuth";
pub const RELOGIN: &str = "hermes auth add minimax-oauth";
pub const CLIENT_ID: &str = "78257093-7e40-4613-99e0-527b14b39113";
pub const SCOPE: &str = "group_id profile model.completion";
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:user_code";
pub const DEFAULT_PORTAL: &str = "https://api.minimax.io";
pub const INFERENCE: &str = "https://api.minimax.io/anthropic";
const SKEW: f64 = 60.0;

fn err(kind: ErrorKind, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(DISPLAY, kind, msg)
}

pub fn portal() -> String {
    env_nonempty(envvars::HERMES_MINIMAX_OAUTH_BASE)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_PORTAL.into())
}

/// `(verifier, S256 challenge)`: a 86-character verifier (64 random bytes).
pub fn pkce() -> (String, String) {
    let p = super::pkce::Pkce::new(64);
    (p.verifier, p.challenge)
}

/// `expired_in`: an absolute unix-ms deadline when it is larger than now_ms/2, else a TTL (s).
fn deadline_epoch(v: f64, now: f64) -> f64 {
    if v > now * 1000.0 / 2.0 {
        v / 1000.0
    } else {
        now + v
    }
}

pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    entry
        .expires_at_ms
        .is_some_and(|ms| ms as f64 / 1000.0 - now <= SKEW)
}

fn status_msg(m: &Map<String, Value>) -> Option<String> {
    m.get("base_resp")
        .and_then(|b| b.get("status_msg"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Settings of `hermes auth add minimax-oauth`.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub label: Option<String>,
    pub timeout: Option<f64>,
    pub no_browser: bool,
}

/// Logs in, saves `providers.minimax-oauth` (making it active) and adds a
/// `manual:minimax_oauth` pool entry. Returns `(position, label)`.
pub fn login(ctx: &PoolContext, s: &LoginSettings) -> Result<(usize, String), OAuthError> {
    let portal = portal();
    let client = http::client(
        DISPLAY,
        &HttpOptions {
            follow_redirects: true,
            ..HttpOptions::with_timeout(s.timeout.unwrap_or(15.0))
        },
    )?;
    let policy = BrowserPolicy {
        no_browser: s.no_browser,
        needs_graphical: true,
    };
    say("Starting Hermes login via MiniMax (global) OAuth...");
    say(format!("Portal: {portal}"));
    let (verifier, challenge) = pkce();
    let state = super::pkce::random_urlsafe(16);
    let tok = super::block_on(async {
        let request_id = uuid::Uuid::new_v4().to_string();
        let reply = http::post_form(
            DISPLAY,
            "MiniMax OAuth authorization request",
            &client,
            &format!("{portal}/oauth/code"),
            &[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("scope", SCOPE),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", &state),
            ],
            &[("x-request-id", &request_id)],
        )
        .await
        .map_err(|e| e.next(RELOGIN))?;
        if reply.status != 200 {
            return Err(err(
                ErrorKind::Protocol,
                format!("MiniMax OAuth authorization failed: {}", reply.excerpt()),
            )
            .next(RELOGIN));
        }
        let m = reply.json().unwrap_or_default();
        for f in ["user_code", "verification_uri", "expired_in"] {
            if m.get(f).is_none_or(Value::is_null) {
                return Err(err(
                    ErrorKind::Protocol,
                    format!("MiniMax OAuth response missing field: {f}"),
                )
                .next(RELOGIN));
            }
        }
        if jstr(&m, "state") != Some(state.as_str()) {
            return Err(err(
                ErrorKind::Protocol,
                "MiniMax OAuth state mismatch (possible CSRF).",
            )
            .next(RELOGIN));
        }
        let user_code = jstr(&m, "user_code").unwrap_or_default().to_string();
        let url = jstr(&m, "verification_uri").unwrap_or_default().to_string();
        say("");
        say("To continue:");
        say(format!("  1. Open: {url}"));
        say(format!("  2. If prompted, enter code: {user_code}"));
        super::maybe_open(policy, &url, "--");
        say("Waiting for approval...");
        let now = ctx.now();
        let deadline = deadline_epoch(jsecs(&m, "expired_in").unwrap_or(300.0), now);
        let wait =
            Duration::from_secs_f64((jsecs(&m, "interval").unwrap_or(2000.0) / 1000.0).max(2.0));
        let _spinner = super::Spinner::start("Waiting for approval…");
        let started = std::time::Instant::now();
        let budget = scaled(Duration::from_secs_f64((deadline - now).max(1.0)));
        let mut first = true;
        loop {
            if !first {
                tokio::time::sleep(scaled(wait)).await;
            }
            first = false;
            if started.elapsed() > budget {
                return Err(err(
                    ErrorKind::Denied,
                    "MiniMax OAuth timed out before authorization completed.",
                )
                .next(RELOGIN));
            }
            let reply = http::post_form(
                DISPLAY,
                "MiniMax OAuth polling",
                &client,
                &format!("{portal}/oauth/token"),
                &[
                    ("grant_type", GRANT),
                    ("client_id", CLIENT_ID),
                    ("user_code", &user_code),
                    ("code_verifier", &verifier),
                ],
                &[],
            )
            .await
            .map_err(|e| e.next(RELOGIN))?;
            let body = reply.json();
            if reply.status != 200 {
                let msg = body
                    .as_ref()
                    .and_then(status_msg)
                    .unwrap_or_else(|| reply.excerpt());
                return Err(
                    err(ErrorKind::Protocol, format!("MiniMax OAuth error: {msg}")).next(RELOGIN),
                );
            }
            let body = body.unwrap_or_default();
            match jstr(&body, "status") {
                Some("error") => {
                    return Err(err(
                        ErrorKind::Denied,
                        "MiniMax OAuth reported an error. Please try again later.",
                    )
                    .next(RELOGIN));
                }
                Some("success") => {
                    if jstr(&body, "access_token").is_none()
                        || jstr(&body, "refresh_token").is_none()
                        || body.get("expired_in").is_none()
                    {
                        return Err(err(
                            ErrorKind::Protocol,
                            "MiniMax OAuth success payload missing required token fields.",
                        )
                        .next(RELOGIN));
                    }
                    return Ok(body);
                }
                _ => {}
            }
        }
    })?;
    let now = ctx.now();
    let at = jstr(&tok, "access_token").unwrap_or_default().to_string();
    let exp = deadline_epoch(jsecs(&tok, "expired_in").unwrap_or(3600.0), now);
    let mut st = Map::new();
    st.insert("provider".into(), json!(ID));
    st.insert("region".into(), json!("global"));
    st.insert("portal_base_url".into(), json!(portal));
    st.insert("inference_base_url".into(), json!(INFERENCE));
    st.insert("client_id".into(), json!(CLIENT_ID));
    st.insert("scope".into(), json!(SCOPE));
    st.insert("token_type".into(), json!("Bearer"));
    st.insert("access_token".into(), json!(at));
    st.insert("refresh_token".into(), json!(jstr(&tok, "refresh_token")));
    st.insert(
        "resource_url".into(),
        tok.get("resource_url").cloned().unwrap_or(Value::Null),
    );
    st.insert("obtained_at".into(), json!(iso_utc_micros(now)));
    st.insert("expires_at".into(), json!(iso_utc_micros(exp)));
    st.insert("expires_in".into(), json!((exp - now).max(0.0) as i64));
    let cfg = |e: crate::store::StoreError| err(ErrorKind::Config, e.to_string());
    // Loaded before the singleton is saved: the manual entry comes first, the `oauth` row the
    // singleton seeds joins on the next load (as in the reference).
    let mut pool =
        CredentialPool::load(ctx, ID).map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    let label = s
        .label
        .clone()
        .or_else(|| crate::jwt::label(&at))
        .unwrap_or_else(|| pool.next_free_label("minimax-oauth-oauth"));
    {
        let lock = StoreLock::acquire(&ctx.home).map_err(cfg)?;
        let mut store = AuthStore::load_locked(&lock).map_err(cfg)?;
        store.save_provider_state(ID, st);
        store.save(&lock).map_err(cfg)?;
    }
    say("✓ MiniMax OAuth login successful.");
    if let Some(n) = jstr(&tok, "notification_message") {
        say(format!("Note from MiniMax: {n}"));
    }
    let mut e = PoolEntry::new(&label, AUTH_OAUTH, "manual:minimax_oauth");
    e.access_token = Some(at);
    e.refresh_token = jstr(&tok, "refresh_token").map(str::to_string);
    e.expires_at_ms = Some((exp * 1000.0) as i64);
    e.base_url = Some(INFERENCE.into());
    let n = pool
        .add(e)
        .map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    Ok((n, label))
}

fn refresh_failure(reply: &Reply) -> OAuthError {
    let b = reply.body.to_lowercase();
    let terminal = [
        "invalid_grant",
        "refresh_token_reused",
        "invalid_refresh_token",
    ]
    .iter()
    .any(|k| b.contains(k));
    let kind = if terminal {
        ErrorKind::Terminal
    } else if reply.status >= 500 || reply.status == 429 {
        ErrorKind::Transport
    } else {
        ErrorKind::Protocol
    };
    err(
        kind,
        format!("MiniMax OAuth refresh failed: {}", reply.excerpt()),
    )
    .code(if terminal {
        "invalid_grant"
    } else {
        "refresh_failed"
    })
    .next(RELOGIN)
}

/// One refresh POST.
pub fn exchange_refresh(
    portal: &str,
    refresh_token: &str,
    now: f64,
) -> Result<Rotated, OAuthError> {
    let client = http::client(DISPLAY, &HttpOptions::with_timeout(15.0))?;
    let reply = super::block_on(http::post_form(
        DISPLAY,
        "MiniMax OAuth refresh",
        &client,
        &format!("{portal}/oauth/token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("refresh_token", refresh_token),
        ],
        &[],
    ))?;
    if reply.status != 200 {
        return Err(refresh_failure(&reply));
    }
    let m = reply.json().unwrap_or_default();
    if jstr(&m, "status") != Some("success") || jstr(&m, "access_token").is_none() {
        return Err(err(
            ErrorKind::Terminal,
            "MiniMax OAuth refresh did not return success.",
        )
        .code("invalid_grant")
        .next(RELOGIN));
    }
    let exp = deadline_epoch(jsecs(&m, "expired_in").unwrap_or(3600.0), now);
    Ok(Rotated {
        access_token: jstr(&m, "access_token").unwrap_or_default().to_string(),
        refresh_token: jstr(&m, "refresh_token").map(str::to_string),
        expires_at_ms: Some((exp * 1000.0) as i64),
        expires_at: None,
    })
}

fn apply_to_singleton(store: &mut AuthStore, old_rt: Option<&str>, row: &PoolEntry, now: f64) {
    let Some(mut st) = store.provider_state(ID).cloned() else {
        return;
    };
    // Only when the singleton holds the same grant (one login seeds both rows).
    if jstr(&st, "refresh_token") != old_rt {
        return;
    }
    st.insert("access_token".into(), json!(row.access_token));
    st.insert("refresh_token".into(), json!(row.refresh_token));
    if let Some(ms) = row.expires_at_ms {
        let exp = ms as f64 / 1000.0;
        st.insert("expires_at".into(), json!(iso_utc_micros(exp)));
        st.insert("expires_in".into(), json!((exp - now).max(0.0) as i64));
    }
    st.insert("obtained_at".into(), json!(iso_utc_micros(now)));
    store.set_provider_state_quiet(ID, st);
}

fn quarantine_singleton(store: &mut AuthStore, old_rt: Option<&str>, e: &OAuthError) {
    let Some(mut st) = store.provider_state(ID).cloned() else {
        return;
    };
    if jstr(&st, "refresh_token").is_some() && jstr(&st, "refresh_token") != old_rt {
        return;
    }
    for k in [
        "access_token",
        "refresh_token",
        "expires_at",
        "expires_in",
        "obtained_at",
    ] {
        st.shift_remove(k);
    }
    st.insert(
        "last_auth_error".into(),
        json!({
            "provider": ID, "code": e.code, "message": e.message,
            "reason": "runtime_refresh_failure", "relogin_required": true,
            "at": iso_utc_micros(crate::timefmt::now_epoch()),
        }),
    );
    store.set_provider_state_quiet(ID, st);
    let kept: Vec<Value> = store
        .pool_entries(ID)
        .into_iter()
        .filter(|m| m.get("source").and_then(Value::as_str) != Some("oauth"))
        .map(|m| Value::Object(m.clone()))
        .collect();
    store.set_pool_entries(ID, kept);
}

/// Single-flight refresh of one MiniMax pool row (and of the singleton sharing its grant).
pub fn refresh_entry(ctx: &PoolContext, entry: &PoolEntry) -> Result<PoolEntry, OAuthError> {
    let now = ctx.now();
    let store = AuthStore::load(&ctx.home).map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    let portal = store
        .provider_state(ID)
        .and_then(|s| jstr(s, "portal_base_url").map(str::to_string))
        .filter(|_| env_nonempty(envvars::HERMES_MINIMAX_OAUTH_BASE).is_none())
        .unwrap_or_else(portal);
    single_flight(
        ctx,
        entry,
        &RowRefresh {
            pool_key: ID,
            needs: &needs_refresh,
            exchange: &|row| {
                let rt = super::refresh::row_refresh_token(
                    row,
                    &super::refresh::MissingRefresh {
                        provider: DISPLAY,
                        message: "MiniMax OAuth credential has no refresh token.",
                        code: None,
                        relogin: RELOGIN,
                    },
                )?;
                exchange_refresh(&portal, rt, now)
            },
            write_singleton: &|store, before, row| {
                apply_to_singleton(store, before.refresh_token.as_deref(), row, now)
            },
            quarantine_singleton: &|store, row, e| {
                quarantine_singleton(store, row.refresh_token.as_deref(), e)
            },
        },
    )
}

/// Status: logged in while `expires_at` is ahead; an expired or expiring login with a refresh
/// token is refreshed first (single-flight through its pool row).
pub fn status(ctx: &PoolContext) -> Result<super::OAuthStatus, OAuthError> {
    let cfg = |e: crate::store::StoreError| err(ErrorKind::Config, e.to_string());
    let store = AuthStore::load(&ctx.home).map_err(cfg)?;
    let Some(st) = store.provider_state(ID).cloned() else {
        return Ok(super::OAuthStatus::out(None));
    };
    let now = ctx.now();
    let details = |st: &Map<String, Value>| {
        let mut d = vec![("auth_type".to_string(), "oauth_device_code".to_string())];
        for k in ["client_id", "scope", "expires_at"] {
            if let Some(v) = jstr(st, k) {
                d.push((k.into(), v.into()));
            }
        }
        if let Some(v) = jstr(st, "inference_base_url") {
            d.push(("api_base_url".into(), v.into()));
        }
        d
    };
    let exp = jstr(&st, "expires_at").and_then(parse_iso);
    if exp.is_some_and(|e| e - now > SKEW) {
        return Ok(super::OAuthStatus::ok(details(&st), None));
    }
    if jstr(&st, "refresh_token").is_none() {
        let why = st
            .get("last_auth_error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return Ok(super::OAuthStatus::out(why));
    }
    let pool = CredentialPool::load_from(ctx, &store, ID)
        .map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    let row = pool
        .entries()
        .iter()
        .find(|e| e.refresh_token.as_deref() == jstr(&st, "refresh_token"))
        .cloned();
    let Some(row) = row else {
        return Ok(super::OAuthStatus::out(None));
    };
    match refresh_entry(ctx, &row) {
        Ok(_) => {
            let fresh = AuthStore::load(&ctx.home).map_err(cfg)?;
            let st = fresh.provider_state(ID).cloned().unwrap_or_default();
            Ok(super::OAuthStatus::ok(details(&st), None))
        }
        Err(e) if e.is_terminal() => Ok(super::OAuthStatus::out(Some(e.message))),
        Err(e) if exp.is_some_and(|x| x > now) => Ok(super::OAuthStatus::ok(
            details(&st),
            Some(format!("token refresh failed, login kept: {}", e.message)),
        )),
        Err(e) => Ok(super::OAuthStatus::out(Some(e.message))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_pair_is_s256() {
        let (v, c) = pkce();
        assert_eq!(v.len(), 86);
        assert_eq!(c.len(), 43);
        assert!(!v.contains('='));
    }

    #[test]
    fn expired_in_is_absolute_ms_or_ttl() {
        let now = 1_800_000_000.0;
        assert_eq!(deadline_epoch(300.0, now), now + 300.0);
        assert_eq!(deadline_epoch(1_800_000_600_000.0, now), 1_800_000_600.0);
    }
}
