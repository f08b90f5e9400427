//! The Honcho OAuth client: endpoints (env-overridable), the loopback PKCE sign-in and the
//! refresh of a token close to expiry.
//!
//! Note for consolidation: PKCE generation and the loopback wait duplicate what a generic
//! `providers::oauth` engine would provide (the wait reuses `mcp::callback`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::HonchoError;
use super::config::{self, host_block, host_block_mut};
use crate::envvars;
use crate::providers::oauth::loopback::{
    self, Loopback, LoopbackConfig, Outcome, constant_time_eq,
};

pub const ACCESS_TOKEN_PREFIX: &str = "hch-at-";
/// Refresh this many seconds before expiry.
pub const REFRESH_SKEW_SECS: f64 = 120.0;
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// The preferred loopback port (the registered redirect); an ephemeral one when taken.
pub const LOOPBACK_PORT: u16 = 8765;
const DEFAULT_CLIENT_ID: &str = "hermes-agent";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Authorization-server URLs and client identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
}

fn is_loopback_url(u: &str) -> bool {
    ["localhost", "127.0.0.1", "::1"]
        .iter()
        .any(|h| u.contains(h))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Cloud, local or self-hosted endpoints from the config's `environment`/`baseUrl`, each
/// overridable by `HONCHO_OAUTH_{DASHBOARD,AUTHORIZE_URL,TOKEN_URL,CLIENT_ID,SCOPE}`.
pub fn resolve_endpoints(environment: Option<&str>, base_url: Option<&str>) -> Endpoints {
    let local = environment.is_some_and(|e| e.eq_ignore_ascii_case("local"))
        || base_url.is_some_and(is_loopback_url);
    let (dashboard, mut token) = if local {
        (
            "http://localhost:3000",
            "http://localhost:8000/oauth/token".to_string(),
        )
    } else {
        (
            "https://app.honcho.dev",
            "https://api.honcho.dev/oauth/token".to_string(),
        )
    };
    if let Some(b) = base_url.filter(|b| !b.is_empty())
        && !local
    {
        token = format!("{}/oauth/token", b.trim_end_matches('/'));
    }
    let dashboard = env(envvars::HONCHO_OAUTH_DASHBOARD)
        .unwrap_or_else(|| dashboard.to_string())
        .trim_end_matches('/')
        .to_string();
    Endpoints {
        authorize_url: env(envvars::HONCHO_OAUTH_AUTHORIZE_URL)
            .unwrap_or_else(|| format!("{dashboard}/authorize")),
        token_url: env(envvars::HONCHO_OAUTH_TOKEN_URL).unwrap_or(token),
        client_id: env(envvars::HONCHO_OAUTH_CLIENT_ID).unwrap_or_else(|| DEFAULT_CLIENT_ID.into()),
        scope: env(envvars::HONCHO_OAUTH_SCOPE).unwrap_or_else(|| "write".into()),
    }
}

/// Endpoints for the config file's host: `environment` (host block, then root) and `baseUrl`.
pub fn endpoints_for(raw: &Map<String, Value>, host: &str) -> Endpoints {
    let block = host_block(raw, host);
    let environment = block
        .and_then(|b| b.get("environment"))
        .or_else(|| raw.get("environment"))
        .and_then(Value::as_str);
    let base_url = raw
        .get("baseUrl")
        .or_else(|| raw.get("base_url"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| env(envvars::HONCHO_BASE_URL));
    resolve_endpoints(environment, base_url.as_deref())
}

/// An OAuth grant as stored in a host block (`apiKey` + `oauth`).
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: f64,
    pub client_id: String,
    pub token_endpoint: String,
    pub scope: String,
    pub token_type: String,
}

impl Credential {
    /// `None` unless the block holds an `hch-at-` access token and a complete `oauth` block.
    pub fn from_host_block(block: &Map<String, Value>) -> Option<Self> {
        let access = block.get("apiKey")?.as_str()?;
        if !access.starts_with(ACCESS_TOKEN_PREFIX) {
            return None;
        }
        let o = block.get("oauth")?.as_object()?;
        let s = |k: &str| {
            o.get(k).and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        Some(Self {
            access_token: access.to_string(),
            refresh_token: s("refreshToken")?,
            token_endpoint: s("tokenEndpoint")?,
            client_id: s("clientId")?,
            expires_at: o.get("expiresAt").and_then(Value::as_f64).unwrap_or(0.0),
            scope: s("scope").unwrap_or_else(|| "write".into()),
            token_type: s("tokenType").unwrap_or_else(|| "Bearer".into()),
        })
    }

    pub fn oauth_block(&self) -> Value {
        serde_json::json!({
            "refreshToken": self.refresh_token,
            "expiresAt": self.expires_at as i64,
            "clientId": self.client_id,
            "tokenEndpoint": self.token_endpoint,
            "scope": self.scope,
            "tokenType": self.token_type,
        })
    }

    pub fn is_expiring(&self, now: f64) -> bool {
        now >= self.expires_at - REFRESH_SKEW_SECS
    }

    /// Writes `apiKey` + `oauth` into `hosts.<host>`, leaving everything else as it was.
    pub fn store_into(&self, raw: &mut Map<String, Value>, host: &str) {
        let block = host_block_mut(raw, host);
        block.insert("apiKey".into(), Value::from(self.access_token.clone()));
        block.insert("oauth".into(), self.oauth_block());
    }

    /// A credential from a token response (`expires_in` relative to `now`).
    fn from_grant(
        grant: &Map<String, Value>,
        client_id: &str,
        token_endpoint: &str,
        fallback: Option<&Credential>,
        now: f64,
    ) -> Result<Self, HonchoError> {
        let access = grant
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|a| a.starts_with(ACCESS_TOKEN_PREFIX));
        let refresh = grant
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        let (Some(access), Some(refresh)) = (access, refresh) else {
            return Err(HonchoError::BadGrant(
                "token response missing access_token/refresh_token",
            ));
        };
        let expires_in = grant
            .get("expires_in")
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0.0);
        let text = |k: &str, d: &str| {
            grant
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| d.to_string())
        };
        Ok(Self {
            access_token: access.to_string(),
            refresh_token: refresh.to_string(),
            expires_at: now + expires_in.trunc(),
            client_id: client_id.to_string(),
            token_endpoint: token_endpoint.to_string(),
            scope: text("scope", fallback.map_or("write", |c| c.scope.as_str())),
            token_type: text(
                "token_type",
                fallback.map_or("Bearer", |c| c.token_type.as_str()),
            ),
        })
    }
}

/// POSTs a form and returns the JSON object of a 2xx answer.
async fn post_form(url: &str, form: &[(&str, &str)]) -> Result<Map<String, Value>, HonchoError> {
    use crate::providers::oauth::http;
    let err = |detail: String| HonchoError::Http {
        url: url.to_string(),
        detail,
    };
    let opts = http::HttpOptions {
        timeout: HTTP_TIMEOUT,
        ..http::HttpOptions::default()
    };
    let client = http::client("Honcho", &opts).map_err(|e| err(e.message))?;
    let reply = http::post_form("Honcho", "token request", &client, url, form, &[])
        .await
        .map_err(|e| err(e.message))?;
    if !reply.ok() {
        return Err(err(format!("HTTP {}: {}", reply.status, reply.excerpt())));
    }
    reply
        .json()
        .ok_or_else(|| err("the answer is not a JSON object".into()))
}

fn pkce() -> (String, String) {
    let p = crate::providers::oauth::pkce::Pkce::new(64);
    (p.verifier, p.challenge)
}

fn random_state() -> String {
    crate::providers::oauth::pkce::random_urlsafe(32)
}

/// `~/relative` for the consent screen, or the bare file name outside the home directory.
fn display_path(path: &Path) -> String {
    if let Some(h) = crate::home::user_home()
        && let Ok(rel) = path.strip_prefix(&h)
    {
        return format!("~/{}", rel.display());
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How the sign-in talks to the user.
pub struct SignIn<'a> {
    pub endpoints: Endpoints,
    /// Where the grant is written (the wizard's profile-local file).
    pub config_path: PathBuf,
    pub host: String,
    pub open_browser: bool,
    pub timeout: Duration,
    /// Lines pasted on a terminal (the redirect URL), if any.
    pub paste: Option<&'a mut UnboundedReceiver<String>>,
}

/// The loopback flow: bind 8765 (else an ephemeral port), print and open the authorize URL,
/// wait for `/callback`, check the state, exchange the code, store the grant. Returns the
/// credential and the grant's `config` object (its `peerName` is the wizard's default).
pub async fn sign_in(
    s: SignIn<'_>,
) -> Result<(Credential, Option<Map<String, Value>>), HonchoError> {
    let loopback = Loopback::bind(LoopbackConfig {
        fallback_ephemeral: true,
        ..LoopbackConfig::local(
            LOOPBACK_PORT,
            "/callback",
            "Authorization complete",
            "Connected to Honcho. You can close this tab and return to Hermes.",
        )
    })
    .map_err(HonchoError::Bind)?;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", loopback.port());
    let (verifier, challenge) = pkce();
    let state = random_state();
    let mut url = url::Url::parse(&s.endpoints.authorize_url).map_err(|e| HonchoError::Http {
        url: s.endpoints.authorize_url.clone(),
        detail: e.to_string(),
    })?;
    url.query_pairs_mut()
        .append_pair("client_id", &s.endpoints.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &s.endpoints.scope)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("response_type", "code")
        .append_pair("state", &state)
        .append_pair("source", "hermes-cli")
        .append_pair("config_path", &display_path(&s.config_path));
    let auth_url = url.to_string();
    println!(
        "\n  Open this link to authorize (waiting up to {}):\n\n    {auth_url}\n",
        wait_text(s.timeout)
    );
    if s.open_browser {
        let u = auth_url.clone();
        // The socket is already bound, so a fast redirect cannot beat the listener.
        tokio::task::spawn_blocking(move || {
            let _ = webbrowser::open(&u);
        });
    }
    if s.paste.is_some() {
        println!("  Or paste the URL your browser ends on and press Enter (`skip` cancels).");
    }
    let outcome = loopback::wait_redirect(loopback, s.paste, s.timeout).await;
    let (params, pasted) = match outcome {
        Outcome::TimedOut => return Err(HonchoError::Timeout),
        Outcome::Skipped => return Err(HonchoError::Skipped),
        Outcome::Redirect(p) => (p, false),
        Outcome::Pasted(p) => (p, true),
    };
    if let Some(e) = params.error {
        return Err(HonchoError::Denied(e));
    }
    let got_state = match params.state {
        Some(st) => st,
        None if pasted => state.clone(),
        None => String::new(),
    };
    if !constant_time_eq(&got_state, &state) {
        return Err(HonchoError::StateMismatch);
    }
    let code = params.code.unwrap_or_default();
    let grant = post_form(
        &s.endpoints.token_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &s.endpoints.client_id),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await?;
    let cred = Credential::from_grant(
        &grant,
        &s.endpoints.client_id,
        &s.endpoints.token_url,
        None,
        now(),
    )?;
    let mut raw = config::read(&s.config_path);
    cred.store_into(&mut raw, &s.host);
    config::write(&s.config_path, &raw)?;
    let granted_config = grant.get("config").and_then(Value::as_object).cloned();
    Ok((cred, granted_config))
}

fn wait_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} seconds")
    }
}

/// The result of [`ensure_fresh`].
#[derive(Debug, Clone, PartialEq)]
pub struct FreshToken {
    pub credential: Credential,
    /// This call (or another process while we waited for the lock) rotated the token.
    pub refreshed: bool,
    /// The refresh failed; `credential` is the stale one.
    pub error: Option<String>,
}

/// Takes an exclusive `flock` on `<config>.lock`, blocking until it is free.
fn lock_config(path: &Path) -> Result<std::fs::File, HonchoError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let err = |e: std::io::Error| HonchoError::Lock {
        path: lock_path.display().to_string(),
        detail: e.to_string(),
    };
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(err)?;
    f.lock().map_err(err)?;
    Ok(f)
}

/// The host's OAuth credential, refreshed first when it is within 120 s of expiry. `Ok(None)`
/// when the host has no OAuth grant (an API key, or nothing). The refresh runs under the lock
/// and re-reads the file first, adopting a token another process already rotated; the rotated
/// pair is persisted right after the token endpoint answers. A failed refresh leaves the file
/// untouched and is reported in `error`.
pub async fn ensure_fresh(path: &Path, host: &str) -> Result<Option<FreshToken>, HonchoError> {
    let raw = config::read(path);
    let Some(cred) = host_block(&raw, host).and_then(Credential::from_host_block) else {
        return Ok(None);
    };
    if !cred.is_expiring(now()) {
        return Ok(Some(FreshToken {
            credential: cred,
            refreshed: false,
            error: None,
        }));
    }
    let p = path.to_path_buf();
    let lock = tokio::task::spawn_blocking(move || lock_config(&p))
        .await
        .map_err(|e| HonchoError::Lock {
            path: path.display().to_string(),
            detail: e.to_string(),
        })??;
    let mut raw = config::read(path);
    let current = host_block(&raw, host)
        .and_then(Credential::from_host_block)
        .unwrap_or_else(|| cred.clone());
    if !current.is_expiring(now()) {
        drop(lock);
        let refreshed = current.access_token != cred.access_token;
        return Ok(Some(FreshToken {
            credential: current,
            refreshed,
            error: None,
        }));
    }
    let answer = post_form(
        &current.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &current.client_id),
            ("refresh_token", &current.refresh_token),
        ],
    )
    .await
    .and_then(|grant| {
        Credential::from_grant(
            &grant,
            &current.client_id,
            &current.token_endpoint,
            Some(&current),
            now(),
        )
    });
    let result = match answer {
        Ok(rotated) => {
            rotated.store_into(&mut raw, host);
            config::write(path, &raw)?;
            FreshToken {
                credential: rotated,
                refreshed: true,
                error: None,
            }
        }
        Err(e) => FreshToken {
            credential: current,
            refreshed: false,
            error: Some(e.to_string()),
        },
    };
    drop(lock);
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_round_trip() {
        let block: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "apiKey": "hch-at-x", "peerName": "me",
            "oauth": {"refreshToken": "hch-rt-y", "expiresAt": 1795394194, "clientId": "hermes-agent",
                      "tokenEndpoint": "http://t/oauth/token", "scope": "write", "tokenType": "Bearer"}
        }))
        .unwrap();
        let c = Credential::from_host_block(&block).unwrap();
        assert_eq!(c.expires_at, 1795394194.0);
        let mut raw = Map::new();
        c.store_into(&mut raw, "hermes");
        assert_eq!(raw["hosts"]["hermes"]["oauth"], block["oauth"]);
        let mut api = block.clone();
        api.insert("apiKey".into(), Value::from("plain-key"));
        assert!(Credential::from_host_block(&api).is_none());
    }

    #[test]
    fn pkce_shapes() {
        let (v, c) = pkce();
        assert_eq!(v.len(), 86);
        assert_eq!(c.len(), 43);
        assert_ne!(random_state(), random_state());
    }
}
