//! OpenAI Codex (`openai-codex`): OpenAI's device-code login (not RFC 8628: JSON bodies, a
//! `device_auth_id`, 403/404 while pending, server-side PKCE) and refresh.
//!
//! Hermes keeps its own session: `~/.codex/auth.json` is never read or written here.
//! `HERMES_CODEX_OAUTH_ISSUER` replaces `https://auth.openai.com` (paths are appended).

use std::time::Duration;

use serde_json::{Value, json};

use super::http::{self, HttpOptions};
use super::refresh::{Rotated, iso_z};
use super::{ErrorKind, OAuthError, env_nonempty, jsecs, jstr, say, scaled};
use crate::envvars;
use crate::pool::entry::{AUTH_OAUTH, PoolEntry};
use crate::pool::{CredentialPool, PoolContext};
use crate::store::{AuthStore, StoreLock};

pub const ID: &str = "openai-codex";
pub const DISPLAY: &str = "OpenAI Codex";
pub const RELOGIN: &str = "hermes auth add openai-codex";
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const DEFAULT_ISSUER: &str = "https://auth.openai.com";
pub const DEFAULT_BASE_URL: &str = "https://chatgpt.com/backend-api/codex";
/// The redirect URI registered for the device flow (a value, not an endpoint we call).
pub const REDIRECT_URI: &str = "https://auth.openai.com/deviceauth/callback";
const SKEW: f64 = 120.0;
const LOGIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

pub fn issuer() -> String {
    env_nonempty(envvars::HERMES_CODEX_OAUTH_ISSUER)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_ISSUER.into())
}

pub fn base_url() -> String {
    env_nonempty(envvars::HERMES_CODEX_BASE_URL)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_BASE_URL.into())
}

fn err(kind: ErrorKind, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(DISPLAY, kind, msg)
}

/// Codex access tokens are JWTs; refresh when `exp` is within 120 s. Non-JWTs never expire.
pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    entry
        .access_token
        .as_deref()
        .and_then(crate::jwt::exp)
        .is_some_and(|exp| exp <= now + SKEW)
}

fn colour(code: &str) -> String {
    if crate::cli::ui::colour() {
        format!("\x1b[94m{code}\x1b[0m")
    } else {
        code.to_string()
    }
}

/// Settings of `hermes auth add openai-codex`.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub label: Option<String>,
    pub timeout: Option<f64>,
}

/// Runs the device-code login and adds an independent `manual:device_code` pool entry.
/// Returns `(position, label)`.
pub fn login(ctx: &PoolContext, s: &LoginSettings) -> Result<(usize, String), OAuthError> {
    let iss = issuer();
    let client = http::client(
        DISPLAY,
        &HttpOptions::with_timeout(s.timeout.unwrap_or(15.0)),
    )?;
    let tokens = super::block_on(async {
        // 1. user code (429 retried with back-off).
        let mut attempt = 0u32;
        let dc = loop {
            attempt += 1;
            let reply = http::post_json(
                DISPLAY,
                "Codex device-code request",
                &client,
                &format!("{iss}/api/accounts/deviceauth/usercode"),
                &json!({"client_id": CLIENT_ID}),
                &[],
            )
            .await
            .map_err(|e| e.next(RELOGIN))?;
            if reply.status == 429 && attempt < 4 {
                let d = reply.retry_after.unwrap_or(1 << attempt).clamp(1, 60);
                say(format!(
                    "OpenAI is rate-limiting login requests (429); retrying in {d}s..."
                ));
                tokio::time::sleep(scaled(Duration::from_secs(d))).await;
                continue;
            }
            if reply.status == 429 {
                return Err(err(ErrorKind::Transport, "OpenAI is rate-limiting Codex login requests (HTTP 429). This is a temporary throttle on OpenAI's side, not a credential problem. Wait a minute and run the login again.").code("codex_rate_limited").next(RELOGIN));
            }
            if reply.status != 200 {
                return Err(err(
                    ErrorKind::Protocol,
                    format!(
                        "OpenAI Codex login failed: device code request returned status {} ({}).",
                        reply.status,
                        reply.excerpt()
                    ),
                )
                .next(RELOGIN));
            }
            break reply.json().unwrap_or_default();
        };
        let (Some(user_code), Some(auth_id)) =
            (jstr(&dc, "user_code"), jstr(&dc, "device_auth_id"))
        else {
            return Err(err(
                ErrorKind::Protocol,
                "OpenAI Codex login failed: Device code response missing required fields.",
            )
            .next(RELOGIN));
        };
        let interval = jsecs(&dc, "interval").unwrap_or(5.0).max(3.0);
        say("To continue, follow these steps:");
        say("");
        say("  1. Open this URL in your browser:");
        say(format!("     {}", colour(&format!("{iss}/codex/device"))));
        say("");
        say("  2. Enter this code:");
        say(format!("     {}", colour(user_code)));
        say("");
        say("Waiting for sign-in... (press Ctrl+C to cancel)");
        // 2. poll: wait first, 403/404 = pending.
        let _spinner = super::Spinner::start("Waiting for sign-in…");
        let deadline = std::time::Instant::now() + scaled(LOGIN_TIMEOUT);
        let done = loop {
            tokio::time::sleep(scaled(Duration::from_secs_f64(interval))).await;
            if std::time::Instant::now() > deadline {
                return Err(err(
                    ErrorKind::Denied,
                    "OpenAI Codex login failed: Login timed out after 15 minutes.",
                )
                .next(RELOGIN));
            }
            let reply = http::post_json(
                DISPLAY,
                "Codex device-auth polling",
                &client,
                &format!("{iss}/api/accounts/deviceauth/token"),
                &json!({"device_auth_id": auth_id, "user_code": user_code}),
                &[],
            )
            .await
            .map_err(|e| e.next(RELOGIN))?;
            match reply.status {
                200 => break reply.json().unwrap_or_default(),
                403 | 404 => continue,
                s => {
                    return Err(err(
                        ErrorKind::Protocol,
                        format!(
                            "OpenAI Codex login failed: Device auth polling returned status {s}."
                        ),
                    )
                    .next(RELOGIN));
                }
            }
        };
        let (Some(code), Some(verifier)) = (
            jstr(&done, "authorization_code"),
            jstr(&done, "code_verifier"),
        ) else {
            return Err(err(
                ErrorKind::Protocol,
                "OpenAI Codex login failed: Device auth response missing authorization_code or code_verifier.",
            )
            .next(RELOGIN));
        };
        // 3. exchange.
        let reply = http::post_form(
            DISPLAY,
            "Codex token exchange",
            &client,
            &format!("{iss}/oauth/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", CLIENT_ID),
                ("code_verifier", verifier),
            ],
            &[],
        )
        .await
        .map_err(|e| e.next(RELOGIN))?;
        if reply.status != 200 {
            return Err(err(
                ErrorKind::Protocol,
                format!(
                    "OpenAI Codex login failed: Token exchange returned status {} ({}).",
                    reply.status,
                    reply.excerpt()
                ),
            )
            .next(RELOGIN));
        }
        let tok = reply.json().unwrap_or_default();
        let Some(at) = jstr(&tok, "access_token") else {
            return Err(err(
                ErrorKind::Protocol,
                "OpenAI Codex login failed: Token exchange did not return an access_token.",
            )
            .next(RELOGIN));
        };
        // Unlike the reference, a login without a refresh token is refused: it could never refresh.
        let Some(rt) = jstr(&tok, "refresh_token") else {
            return Err(err(
                ErrorKind::Protocol,
                "OpenAI Codex login failed: Token exchange did not return a refresh_token.",
            )
            .next(RELOGIN));
        };
        Ok((at.to_string(), rt.to_string()))
    })?;
    let (at, rt) = tokens;
    let mut pool =
        CredentialPool::load(ctx, ID).map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    let label = s
        .label
        .clone()
        .or_else(|| crate::jwt::label(&at))
        .unwrap_or_else(|| pool.next_free_label("openai-codex-oauth"));
    let mut e = PoolEntry::new(&label, AUTH_OAUTH, "manual:device_code");
    e.access_token = Some(at);
    e.refresh_token = Some(rt);
    e.base_url = Some(base_url());
    e.last_refresh = Some(iso_z(ctx.now()));
    let first = pool.entries().is_empty();
    let n = pool
        .add(e)
        .map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    if first {
        set_active_if_unset(ctx, ID)?;
    }
    Ok((n, label))
}

/// Makes `id` the active provider when none is set.
pub fn set_active_if_unset(ctx: &PoolContext, id: &str) -> Result<(), OAuthError> {
    let cfg = |e: crate::store::StoreError| err(ErrorKind::Config, e.to_string());
    let lock = StoreLock::acquire(&ctx.home).map_err(cfg)?;
    let mut store = AuthStore::load_locked(&lock).map_err(cfg)?;
    if store.active_provider().is_none() {
        store.set_active_provider(Some(id));
        store.save(&lock).map_err(cfg)?;
    }
    Ok(())
}

fn refresh_timeout() -> f64 {
    env_nonempty(envvars::HERMES_CODEX_REFRESH_TIMEOUT_SECONDS)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(20.0)
        .max(5.0)
}

/// One refresh POST (no locking; see [`refresh_entry`]).
pub fn exchange_refresh(refresh_token: &str) -> Result<Rotated, OAuthError> {
    let iss = issuer();
    let client = http::client(DISPLAY, &HttpOptions::with_timeout(refresh_timeout()))?;
    let reply = super::block_on(http::post_form(
        DISPLAY,
        "Codex token refresh",
        &client,
        &format!("{iss}/oauth/token"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ],
        &[("user-agent", "hermes-cli/0.19.0")],
    ))?;
    if reply.status == 429 {
        let msg = match reply.retry_after {
            Some(n) => format!("Codex provider quota exhausted (429); retry after {n}s. Credentials are still valid."),
            None => "Codex provider quota exhausted (429). Credentials are still valid; retry after the usage limit resets.".into(),
        };
        return Err(err(ErrorKind::Transport, msg).code("codex_rate_limited"));
    }
    if reply.status != 200 {
        let (code, msg) = reply
            .oauth_error()
            .unwrap_or(("codex_refresh_failed".into(), None));
        let reuse = code == "refresh_token_reused";
        let terminal = reuse
            || matches!(
                code.as_str(),
                "invalid_grant" | "invalid_token" | "invalid_request"
            )
            || matches!(reply.status, 401 | 403);
        let message = if reuse {
            "Codex refresh token was already consumed by another client (e.g. Codex CLI or VS Code extension). Run `hermes auth add openai-codex` to sign in again.".to_string()
        } else {
            match msg {
                Some(m) => format!("Codex token refresh failed: {m}"),
                None => format!("Codex token refresh failed with status {}.", reply.status),
            }
        };
        let kind = if terminal {
            ErrorKind::Terminal
        } else if reply.status >= 500 {
            ErrorKind::Transport
        } else {
            ErrorKind::Protocol
        };
        return Err(err(kind, message).code(code).next(RELOGIN));
    }
    let Some(m) = reply.json() else {
        return Err(err(
            ErrorKind::Terminal,
            "Codex token refresh returned invalid JSON.",
        )
        .code("codex_refresh_invalid_json")
        .next(RELOGIN));
    };
    let Some(at) = jstr(&m, "access_token") else {
        return Err(err(
            ErrorKind::Terminal,
            "Codex token refresh response was missing access_token.",
        )
        .code("codex_refresh_missing_access_token")
        .next(RELOGIN));
    };
    Ok(Rotated {
        access_token: at.to_string(),
        refresh_token: jstr(&m, "refresh_token").map(str::to_string),
        ..Rotated::default()
    })
}

/// Single-flight refresh of one Codex pool row.
pub fn refresh_entry(ctx: &PoolContext, entry: &PoolEntry) -> Result<PoolEntry, OAuthError> {
    super::refresh::refresh_tokens_row(
        ctx,
        entry,
        ID,
        &needs_refresh,
        &super::refresh::MissingRefresh {
            provider: DISPLAY,
            message: "Codex auth is missing refresh_token.",
            code: Some("codex_auth_missing_refresh_token"),
            relogin: RELOGIN,
        },
        &exchange_refresh,
    )
}

/// Value of a `tokens` field of the singleton.
pub fn singleton_token(state: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    state
        .get("tokens")
        .and_then(Value::as_object)
        .and_then(|t| jstr(t, k))
        .map(str::to_string)
}
