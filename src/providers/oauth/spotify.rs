//! Spotify (spec oauth-flows §8): PKCE with a loopback callback. Not an inference provider:
//! its state lives in `providers.spotify` and never becomes `active_provider`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::pkce::{self, Body, FlowError, Pkce, str_field};
use crate::envvars;
use crate::pool::{PoolContext, PoolError};
use crate::store::{AuthStore, StoreLock};

pub const ID: &str = "spotify";
pub const ACCOUNTS_BASE_URL: &str = "https://accounts.spotify.com";
pub const API_BASE_URL: &str = "https://api.spotify.com/v1";
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:43827/spotify/callback";
pub const DOCS_URL: &str = "https://hermes-agent.nousresearch.com/docs/user-guide/features/spotify";
pub const DASHBOARD_URL: &str = "https://developer.spotify.com/dashboard";
pub const SSH_GUIDE_URL: &str = "https://hermes-agent.nousresearch.com/docs/guides/oauth-over-ssh";
pub const REFRESH_SKEW_SECS: f64 = 120.0;
pub const DEFAULT_SCOPES: &[&str] = &[
    "user-modify-playback-state",
    "user-read-playback-state",
    "user-read-currently-playing",
    "user-read-recently-played",
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-public",
    "playlist-modify-private",
    "user-library-read",
    "user-library-modify",
];

/// Space-joined scopes, de-duplicated in order (commas accepted as separators).
pub fn normalize_scope(s: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in s.split(|c: char| c.is_whitespace() || c == ',') {
        if !part.is_empty() && !out.contains(&part) {
            out.push(part);
        }
    }
    out.join(" ")
}

/// Flags given on the command line (all optional).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
}

/// Resolved login settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: no client id anywhere (the first-run wizard asks for one).
    pub client_id: Option<String>,
    pub redirect_uri: String,
    pub scope: String,
    pub accounts_base_url: String,
    pub api_base_url: String,
}

fn nonempty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Settings {
    /// Flag, then env (process, then `$HERMES_HOME/.env`), then stored state, then default.
    pub fn resolve(ctx: &PoolContext, flags: &Flags) -> Result<Self, PoolError> {
        let store = AuthStore::load(&ctx.home)?;
        let stored = store.provider_state(ID).cloned().unwrap_or_default();
        let env = |k: &str| ctx.env.lookup(k);
        let st = |k: &str| nonempty(stored.get(k).and_then(Value::as_str));
        let client_id = nonempty(flags.client_id.as_deref())
            .or_else(|| env(envvars::HERMES_SPOTIFY_CLIENT_ID))
            .or_else(|| env("SPOTIFY_CLIENT_ID"))
            .or_else(|| st("client_id"));
        let redirect_uri = nonempty(flags.redirect_uri.as_deref())
            .or_else(|| env(envvars::HERMES_SPOTIFY_REDIRECT_URI))
            .or_else(|| env("SPOTIFY_REDIRECT_URI"))
            .or_else(|| st("redirect_uri"))
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.into());
        let scope = nonempty(flags.scope.as_deref())
            .or_else(|| st("scope"))
            .map(|s| normalize_scope(&s))
            .unwrap_or_else(|| DEFAULT_SCOPES.join(" "));
        let accounts_base_url = env(envvars::HERMES_SPOTIFY_ACCOUNTS_BASE_URL)
            .or_else(|| st("accounts_base_url"))
            .unwrap_or_else(|| ACCOUNTS_BASE_URL.into())
            .trim_end_matches('/')
            .to_string();
        let api_base_url = env(envvars::HERMES_SPOTIFY_API_BASE_URL)
            .or_else(|| st("api_base_url"))
            .unwrap_or_else(|| API_BASE_URL.into())
            .trim_end_matches('/')
            .to_string();
        Ok(Self {
            client_id,
            redirect_uri,
            scope,
            accounts_base_url,
            api_base_url,
        })
    }
}

/// A checked loopback redirect: host, explicit port, path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Spotify only allows `http://127.0.0.1|localhost:<port>/…` loopback redirects.
pub fn validate_redirect(uri: &str) -> Result<Redirect, FlowError> {
    let bad = |m: &str| FlowError::new(m).code("spotify_redirect_invalid");
    let Some((scheme, host, port, path)) = super::loopback::split_redirect(uri) else {
        return Err(bad(
            "Spotify PKCE redirect_uri must use http://localhost or http://127.0.0.1.",
        ));
    };
    if scheme != "http" {
        return Err(bad(
            "Spotify PKCE redirect_uri must use http://localhost or http://127.0.0.1.",
        ));
    }
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
        return Err(bad(
            "Spotify PKCE redirect_uri must point to localhost or 127.0.0.1.",
        ));
    }
    let Some(port) = port else {
        return Err(bad(
            "Spotify PKCE redirect_uri must include an explicit localhost port.",
        ));
    };
    Ok(Redirect { host, port, path })
}

/// One login attempt.
#[derive(Debug, Clone)]
pub struct Login {
    pub pkce: Pkce,
    pub state: String,
    pub url: String,
}

impl Login {
    pub fn new(s: &Settings, client_id: &str) -> Self {
        let pkce = Pkce::new(64);
        let state = pkce::random_hex(16);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scope)
            .append_pair("state", &state)
            .append_pair("code_challenge_method", "S256")
            .append_pair("code_challenge", &pkce.challenge)
            .finish();
        let url = format!("{}/authorize?{query}", s.accounts_base_url);
        Self { pkce, state, url }
    }
}

/// A token-endpoint answer: the JSON object, or (status, body excerpt) of a rejection.
type TokenAnswer = Result<Map<String, Value>, (u16, String)>;

/// `Err` is a transport failure.
fn token_post(
    accounts: &str,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<TokenAnswer, String> {
    let rep = pkce::send(
        "POST",
        &format!("{accounts}/api/token"),
        Body::Form(form),
        &[("Accept", "application/json")],
        timeout,
    )?;
    if rep.status >= 400 {
        return Ok(Err((rep.status, rep.excerpt())));
    }
    Ok(rep.json().ok_or((rep.status, rep.excerpt())))
}

/// Exchanges the code (public client, no secret).
pub fn exchange(
    s: &Settings,
    client_id: &str,
    login: &Login,
    code: &str,
    timeout: Duration,
) -> Result<Map<String, Value>, FlowError> {
    let form = [
        ("client_id", client_id),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", s.redirect_uri.as_str()),
        ("code_verifier", login.pkce.verifier.as_str()),
    ];
    let j = match token_post(&s.accounts_base_url, &form, timeout) {
        Err(e) => {
            return Err(FlowError::new(format!(
                "Spotify token exchange failed: {e}"
            )));
        }
        Ok(Err((_, body))) => {
            return Err(FlowError::new(format!(
                "Spotify token exchange failed. Response: {body}"
            )));
        }
        Ok(Ok(j)) => j,
    };
    if str_field(&j, "access_token").is_none() {
        return Err(FlowError::new(
            "Spotify token response did not include an access_token.",
        ));
    }
    Ok(j)
}

/// `providers.spotify` from a token response (key order as the reference writes it).
pub fn state_from_tokens(
    tokens: &Map<String, Value>,
    s: &Settings,
    client_id: &str,
    previous: Option<&Map<String, Value>>,
    now: f64,
) -> Map<String, Value> {
    let expires_in = pkce::expires_in(tokens, 0).max(0);
    let mut st = previous.cloned().unwrap_or_default();
    let refresh = str_field(tokens, "refresh_token")
        .or_else(|| previous.and_then(|p| str_field(p, "refresh_token")))
        .unwrap_or("");
    let pairs = [
        ("client_id", json!(client_id)),
        ("redirect_uri", json!(s.redirect_uri)),
        ("accounts_base_url", json!(s.accounts_base_url)),
        ("api_base_url", json!(s.api_base_url)),
        ("scope", json!(s.scope)),
        (
            "granted_scope",
            json!(str_field(tokens, "scope").unwrap_or(&s.scope)),
        ),
        (
            "token_type",
            json!(str_field(tokens, "token_type").unwrap_or("Bearer")),
        ),
        (
            "access_token",
            json!(str_field(tokens, "access_token").unwrap_or("")),
        ),
        ("refresh_token", json!(refresh)),
        ("obtained_at", json!(crate::timefmt::iso_utc_micros(now))),
        (
            "expires_at",
            json!(crate::timefmt::iso_utc_micros(now + expires_in as f64)),
        ),
        ("expires_in", json!(expires_in)),
        ("auth_type", json!("oauth_pkce")),
    ];
    for (k, v) in pairs {
        st.insert(k.into(), v);
    }
    st
}

/// Stores `providers.spotify` under the lock without touching `active_provider`.
pub fn save_state(
    ctx: &PoolContext,
    state: Map<String, Value>,
) -> Result<std::path::PathBuf, PoolError> {
    let lock = StoreLock::acquire(&ctx.home)?;
    let mut store = AuthStore::load_locked(&lock)?;
    store.set_provider_state_quiet(ID, state);
    store.save(&lock)?;
    Ok(store.path().to_path_buf())
}

/// Whether the stored access token is expired or inside the 120 s margin.
pub fn needs_refresh(state: &Map<String, Value>, now: f64) -> bool {
    str_field(state, "expires_at")
        .and_then(crate::timefmt::parse_iso)
        .is_none_or(|e| e <= now + REFRESH_SKEW_SECS)
}

/// The refresh grant for the stored login, single-flight under the store lock: adopts a
/// token another process refreshed meanwhile, persists the new one before returning, and
/// quarantines the login (tokens removed, `last_auth_error` set) when Spotify rejects the
/// refresh token. Returns the state now stored.
pub fn refresh(ctx: &PoolContext, force: bool) -> Result<Map<String, Value>, FlowError> {
    let store_err = |e: crate::store::StoreError| FlowError::new(e.to_string());
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let mut store = AuthStore::load_locked(&lock).map_err(store_err)?;
    let now = ctx.now();
    let Some(state) = store.provider_state(ID).cloned() else {
        return Err(FlowError::new(
            "Spotify is not authenticated. Run `hermes auth spotify` first.",
        )
        .relogin());
    };
    if !force && !needs_refresh(&state, now) {
        return Ok(state);
    }
    let Some(rt) = str_field(&state, "refresh_token").map(str::to_string) else {
        return Err(FlowError::new(
            "Spotify refresh token missing. Run `hermes auth spotify` again.",
        )
        .code("spotify_refresh_token_missing")
        .relogin());
    };
    let client_id = str_field(&state, "client_id").unwrap_or("").to_string();
    let accounts = ctx
        .env
        .lookup(envvars::HERMES_SPOTIFY_ACCOUNTS_BASE_URL)
        .or_else(|| str_field(&state, "accounts_base_url").map(str::to_string))
        .unwrap_or_else(|| ACCOUNTS_BASE_URL.into());
    let accounts = accounts.trim_end_matches('/');
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let tokens = match token_post(accounts, &form, Duration::from_secs(20)) {
        Err(e) => return Err(FlowError::new(format!("Spotify token refresh failed: {e}"))),
        Ok(Err((_, body))) => {
            let err = FlowError::new(format!(
                "Spotify token refresh failed. Run `hermes auth spotify` again. Response: {body}"
            ))
            .code("spotify_refresh_failed")
            .relogin();
            let mut q = state.clone();
            for k in [
                "access_token",
                "refresh_token",
                "expires_at",
                "expires_in",
                "obtained_at",
            ] {
                q.shift_remove(k);
            }
            q.insert(
                "last_auth_error".into(),
                json!({
                    "provider": ID, "code": "spotify_refresh_failed", "message": err.message,
                    "reason": "runtime_refresh_failure", "relogin_required": true,
                    "at": crate::timefmt::iso_utc_micros(now),
                }),
            );
            store.set_provider_state_quiet(ID, q);
            store.save(&lock).map_err(store_err)?;
            return Err(err);
        }
        Ok(Ok(j)) => j,
    };
    if str_field(&tokens, "access_token").is_none() {
        return Err(
            FlowError::new("Spotify refresh response did not include an access_token.").relogin(),
        );
    }
    let settings = Settings {
        client_id: Some(client_id.clone()),
        redirect_uri: str_field(&state, "redirect_uri")
            .unwrap_or(DEFAULT_REDIRECT_URI)
            .into(),
        scope: str_field(&state, "scope").unwrap_or("").into(),
        accounts_base_url: accounts.into(),
        api_base_url: str_field(&state, "api_base_url")
            .unwrap_or(API_BASE_URL)
            .into(),
    };
    let mut fresh = state_from_tokens(&tokens, &settings, &client_id, Some(&state), now);
    fresh.shift_remove("last_auth_error");
    store.set_provider_state_quiet(ID, fresh.clone());
    store.save(&lock).map_err(store_err)?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        assert_eq!(
            validate_redirect(DEFAULT_REDIRECT_URI).unwrap(),
            Redirect {
                host: "127.0.0.1".into(),
                port: 43827,
                path: "/spotify/callback".into()
            }
        );
        let msg = |u: &str| validate_redirect(u).unwrap_err().message;
        assert!(
            msg("https://example.com/cb").contains("must use http://localhost or http://127.0.0.1")
        );
        assert!(msg("http://example.com:1/cb").contains("must point to localhost"));
        assert!(msg("http://localhost/cb").contains("explicit localhost port"));
    }

    #[test]
    fn scope_normalized() {
        assert_eq!(normalize_scope("a, b a  c"), "a b c");
    }

    /// A one-shot HTTP server: answers `status`/`body` to the first request and hands the
    /// request body back.
    fn one_shot(status: u16, body: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if rest.len() >= len {
                        tx.send(rest.to_string()).unwrap();
                        break;
                    }
                }
            }
            write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        });
        (base, rx)
    }

    fn ctx_with(state: Value) -> (tempfile::TempDir, PoolContext) {
        let d = tempfile::tempdir().unwrap();
        let home = crate::home::Home::at(d.path().join("h"));
        let ctx = PoolContext::new(
            home.clone(),
            crate::store::Config::empty(&home),
            crate::pool::EnvSource::new(Default::default(), Default::default()),
            crate::clock::FixedClock::new(2_000_000_000.0),
        );
        let lock = StoreLock::acquire(&home).unwrap();
        let mut store = AuthStore::load_locked(&lock).unwrap();
        store.set_provider_state_quiet(ID, state.as_object().unwrap().clone());
        store.save(&lock).unwrap();
        (d, ctx)
    }

    fn stored(accounts: &str, expires_at: &str) -> Value {
        json!({"client_id": "CID", "redirect_uri": DEFAULT_REDIRECT_URI, "accounts_base_url": accounts,
               "api_base_url": API_BASE_URL, "scope": "s", "granted_scope": "s", "token_type": "Bearer",
               "access_token": "at-1", "refresh_token": "rt-1", "obtained_at": "x",
               "expires_at": expires_at, "expires_in": 3600, "auth_type": "oauth_pkce"})
    }

    #[test]
    fn refresh_persists_new_tokens_and_keeps_the_old_refresh_token() {
        let (base, rx) = one_shot(200, r#"{"access_token":"at-2","expires_in":3600}"#);
        let (_d, ctx) = ctx_with(stored(&base, "2033-05-18T03:33:20+00:00"));
        let st = refresh(&ctx, false).unwrap();
        assert_eq!(st["access_token"], "at-2");
        assert_eq!(st["refresh_token"], "rt-1");
        assert_eq!(
            rx.recv().unwrap(),
            "grant_type=refresh_token&refresh_token=rt-1&client_id=CID"
        );
        let store = AuthStore::load(&ctx.home).unwrap();
        assert_eq!(store.provider_state(ID).unwrap()["access_token"], "at-2");
        assert!(store.active_provider().is_none());
        // Now fresh: no second request (the one-shot server would not answer it).
        assert_eq!(refresh(&ctx, false).unwrap()["access_token"], "at-2");
    }

    #[test]
    fn rejected_refresh_quarantines_the_login() {
        let (base, _rx) = one_shot(400, r#"{"error":"invalid_grant"}"#);
        let (_d, ctx) = ctx_with(stored(&base, "2000-01-01T00:00:00+00:00"));
        let e = refresh(&ctx, false).unwrap_err();
        assert!(e.relogin_required);
        assert!(e.message.starts_with(
            "Spotify token refresh failed. Run `hermes auth spotify` again. Response: "
        ));
        let store = AuthStore::load(&ctx.home).unwrap();
        let st = store.provider_state(ID).unwrap();
        assert!(!st.contains_key("access_token") && !st.contains_key("refresh_token"));
        assert_eq!(st["last_auth_error"]["reason"], "runtime_refresh_failure");
        assert_eq!(st["client_id"], "CID");
    }
}
