//! xAI Grok OAuth (`xai-oauth`): OIDC discovery, RFC 8628 device login, refresh.
//!
//! Endpoints are pinned to https `x.ai` / `*.x.ai`; loopback URLs are admitted too, so tests
//! can point `HERMES_XAI_OAUTH_ISSUER` at a local server (discovery at
//! `<issuer>/.well-known/openid-configuration`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::http::{self, HttpOptions};
use super::refresh::{Rotated, iso_z};
use super::{BrowserPolicy, ErrorKind, OAuthError, device, env_nonempty, jsecs, jstr, say};
use crate::envvars;
use crate::pool::entry::{AUTH_OAUTH, PoolEntry};
use crate::pool::{CredentialPool, PoolContext};

pub const ID: &str = "xai-oauth";
pub const DISPLAY: &str = "xAI Grok OAuth";
pub const RELOGIN: &str = "hermes auth add xai-oauth";
pub const DEFAULT_ISSUER: &str = "https://auth.x.ai";
pub const CLIENT_ID: &str = "b1a00492-073a-47ea-816f-4c329264a828";
pub const SCOPE: &str = "openid profile email offline_access grok-cli:access api:access";
pub const BASE_URL: &str = "https://api.x.ai/v1";

fn err(kind: ErrorKind, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(DISPLAY, kind, msg)
}

pub fn issuer() -> String {
    env_nonempty(envvars::HERMES_XAI_OAUTH_ISSUER)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_ISSUER.into())
}

/// https on `x.ai` / `*.x.ai`, or any loopback URL.
pub fn check_endpoint(what: &str, u: &str) -> Result<(), OAuthError> {
    let bad = |m: String| err(ErrorKind::Protocol, m).code("xai_discovery_invalid");
    let url = url::Url::parse(u).map_err(|_| {
        bad(format!(
            "xAI OIDC discovery returned an invalid {what}: '{u}'."
        ))
    })?;
    if super::is_loopback_url(&url) {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err(bad(format!(
            "xAI OIDC discovery returned a non-HTTPS {what}: '{u}'."
        )));
    }
    let host = url.host_str().unwrap_or("");
    if host != "x.ai" && !host.ends_with(".x.ai") {
        return Err(bad(format!(
            "xAI OIDC discovery {what} host '{host}' is not on the xAI origin (expected x.ai or a *.x.ai subdomain)."
        )));
    }
    Ok(())
}

/// Skew: 3600 s, or 120 s once less than 45 minutes remain. Non-JWTs never expire.
pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    let Some(exp) = entry.access_token.as_deref().and_then(crate::jwt::exp) else {
        return false;
    };
    let left = exp - now;
    let skew = if left <= 45.0 * 60.0 { 120.0 } else { 3600.0 };
    left <= skew
}

/// The discovered endpoints.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub token_endpoint: String,
    pub device_endpoint: String,
}

async fn discover(client: &reqwest::Client) -> Result<Discovery, OAuthError> {
    let iss = issuer();
    let reply = http::send(
        DISPLAY,
        "xAI OIDC discovery",
        client
            .get(format!("{iss}/.well-known/openid-configuration"))
            .header("accept", "application/json"),
    )
    .await?;
    if reply.status != 200 {
        return Err(err(
            ErrorKind::Protocol,
            format!("xAI OIDC discovery returned status {}.", reply.status),
        )
        .code("xai_discovery_failed"));
    }
    let m = reply.json().ok_or_else(|| {
        err(
            ErrorKind::Protocol,
            "xAI OIDC discovery returned invalid JSON.",
        )
        .code("xai_discovery_invalid")
    })?;
    let (Some(_auth), Some(token)) = (
        jstr(&m, "authorization_endpoint"),
        jstr(&m, "token_endpoint"),
    ) else {
        return Err(err(
            ErrorKind::Protocol,
            "xAI OIDC discovery response was missing required endpoints.",
        )
        .code("xai_discovery_invalid"));
    };
    check_endpoint("token_endpoint", token)?;
    let device = jstr(&m, "device_authorization_endpoint")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{iss}/oauth2/device/code"));
    check_endpoint("device_authorization_endpoint", &device)?;
    Ok(Discovery {
        token_endpoint: token.to_string(),
        device_endpoint: device,
    })
}

/// Settings of `hermes auth add xai-oauth`.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub label: Option<String>,
    pub timeout: Option<f64>,
    pub no_browser: bool,
}

/// Device login; adds a `manual:device_code` pool entry. Returns `(position, label)`.
pub fn login(ctx: &PoolContext, s: &LoginSettings) -> Result<(usize, String), OAuthError> {
    let client = http::client(
        DISPLAY,
        &HttpOptions::with_timeout(s.timeout.unwrap_or(20.0)),
    )?;
    let policy = BrowserPolicy {
        no_browser: s.no_browser,
        needs_graphical: true,
    };
    let tok: Map<String, Value> = super::block_on(async {
        let d = discover(&client).await.map_err(|e| e.next(RELOGIN))?;
        let reply = http::post_form(
            DISPLAY,
            "xAI device-code request",
            &client,
            &d.device_endpoint,
            &[("client_id", CLIENT_ID), ("scope", SCOPE)],
            &[],
        )
        .await
        .map_err(|e| e.next(RELOGIN))?;
        if reply.status != 200 {
            return Err(err(
                ErrorKind::Protocol,
                format!(
                    "xAI device-code request failed (HTTP {}). Response: {}",
                    reply.status,
                    reply.excerpt()
                ),
            )
            .next(RELOGIN));
        }
        let dc = reply.json().unwrap_or_default();
        let missing = device::missing_fields(&dc);
        if !missing.is_empty() {
            return Err(err(
                ErrorKind::Protocol,
                format!(
                    "xAI device-code response missing fields: {}",
                    missing.join(", ")
                ),
            )
            .next(RELOGIN));
        }
        let url = jstr(&dc, "verification_uri_complete")
            .or(jstr(&dc, "verification_uri"))
            .unwrap_or_default()
            .to_string();
        let interval = device::interval_from(&dc);
        say("");
        say("To continue:");
        say(format!("  1. Open: {url}"));
        say(format!(
            "  2. If prompted, enter code: {}",
            jstr(&dc, "user_code").unwrap_or_default()
        ));
        super::maybe_open(policy, &url, "--");
        say(format!(
            "Waiting for approval (polling every {}s)...",
            interval.as_secs()
        ));
        let poll = device::Poll {
            provider: DISPLAY,
            restart: RELOGIN,
            token_url: &d.token_endpoint,
            form: vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:device_code".into(),
                ),
                ("client_id", CLIENT_ID.into()),
                (
                    "device_code",
                    jstr(&dc, "device_code").unwrap_or_default().into(),
                ),
            ],
            headers: vec![],
            interval,
            expires_in: Duration::from_secs_f64(jsecs(&dc, "expires_in").unwrap_or(900.0)),
            poll_immediately: true,
        };
        let tok = device::poll(&client, &poll, &|i| {
            say(format!(
                "Server asked to slow down; polling every {}s.",
                i.as_secs()
            ))
        })
        .await?;
        if jstr(&tok, "refresh_token").is_none() {
            return Err(err(
                ErrorKind::Protocol,
                "xAI device-code token response did not include a refresh_token.",
            )
            .next(RELOGIN));
        }
        Ok(tok)
    })?;
    let at = jstr(&tok, "access_token").unwrap_or_default().to_string();
    let mut pool =
        CredentialPool::load(ctx, ID).map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    let label = s
        .label
        .clone()
        .or_else(|| crate::jwt::label(&at))
        .unwrap_or_else(|| pool.next_free_label("xai-oauth-oauth"));
    let mut e = PoolEntry::new(&label, AUTH_OAUTH, "manual:device_code");
    e.access_token = Some(at);
    e.refresh_token = jstr(&tok, "refresh_token").map(str::to_string);
    e.base_url = Some(BASE_URL.into());
    e.last_refresh = Some(iso_z(ctx.now()));
    let first = pool.entries().is_empty();
    let n = pool
        .add(e)
        .map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    if first {
        super::codex::set_active_if_unset(ctx, ID)?;
    }
    Ok((n, label))
}

fn refresh_timeout() -> f64 {
    env_nonempty(envvars::HERMES_XAI_REFRESH_TIMEOUT_SECONDS)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(20.0)
        .max(5.0)
}

/// One refresh POST against the discovered token endpoint.
pub fn exchange_refresh(refresh_token: &str) -> Result<Rotated, OAuthError> {
    let client = http::client(DISPLAY, &HttpOptions::with_timeout(refresh_timeout()))?;
    super::block_on(async {
        let d = discover(&client).await?;
        let reply = http::post_form(
            DISPLAY,
            "xAI token refresh",
            &client,
            &d.token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT_ID),
                ("refresh_token", refresh_token),
            ],
            &[],
        )
        .await?;
        if reply.status == 403 {
            return Err(err(ErrorKind::Protocol, format!(
                "xAI token refresh failed with HTTP 403. Response: {} This OAuth account is not authorized for xAI API access; set XAI_API_KEY and use provider xai instead.",
                reply.excerpt()
            ))
            .code("xai_oauth_tier_denied"));
        }
        if reply.status != 200 {
            let kind = if matches!(reply.status, 400 | 401) {
                ErrorKind::Terminal
            } else {
                ErrorKind::Transport
            };
            return Err(err(
                kind,
                format!("xAI token refresh failed. Response: {}", reply.excerpt()),
            )
            .code("xai_refresh_failed")
            .next(RELOGIN));
        }
        let m = reply.json().unwrap_or_default();
        let at = jstr(&m, "access_token").ok_or_else(|| {
            err(
                ErrorKind::Terminal,
                "xAI token refresh response was missing access_token.",
            )
            .code("xai_refresh_failed")
            .next(RELOGIN)
        })?;
        Ok(Rotated {
            access_token: at.to_string(),
            refresh_token: jstr(&m, "refresh_token").map(str::to_string),
            ..Rotated::default()
        })
    })
}

/// Single-flight refresh of one xAI pool row.
pub fn refresh_entry(ctx: &PoolContext, entry: &PoolEntry) -> Result<PoolEntry, OAuthError> {
    super::refresh::refresh_tokens_row(
        ctx,
        entry,
        ID,
        &needs_refresh,
        &super::refresh::MissingRefresh {
            provider: DISPLAY,
            message: "xAI OAuth credential has no refresh token.",
            code: Some("xai_auth_missing_refresh_token"),
            relogin: RELOGIN,
        },
        &exchange_refresh,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_pinning_admits_xai_and_loopback_only() {
        assert!(check_endpoint("token_endpoint", "https://auth.x.ai/oauth2/token").is_ok());
        assert!(check_endpoint("token_endpoint", "https://x.ai/t").is_ok());
        assert!(check_endpoint("token_endpoint", "http://127.0.0.1:9/t").is_ok());
        assert!(check_endpoint("token_endpoint", "http://localhost:9/t").is_ok());
        let e = check_endpoint("token_endpoint", "http://auth.x.ai/t").unwrap_err();
        assert_eq!(e.code.as_deref(), Some("xai_discovery_invalid"));
        assert!(check_endpoint("token_endpoint", "https://evil-x.ai/t").is_err());
        assert!(check_endpoint("token_endpoint", "https://x.ai.evil.com/t").is_err());
    }
}
