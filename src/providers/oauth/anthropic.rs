//! Anthropic Claude Pro/Max login (spec oauth-flows §5): PKCE with a pasted `code#state`,
//! JSON token exchange, and refresh of pool entries keyed on `expires_at_ms`.

use std::time::Duration;

use serde_json::{Value, json};

use super::pkce::{self, Body, FlowError, HttpReply, Pkce, str_field};
use crate::envvars;
use crate::pool::{PoolContext, PoolEntry, PoolError};
use crate::store::{AuthStore, StoreLock};

pub const CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const AUTHORIZE_URL: &str = "https://claude.ai/oauth/authorize";
pub const REDIRECT_URI: &str = "https://console.anthropic.com/oauth/code/callback";
pub const SCOPES: &str = "org:create_api_key user:profile user:inference";
pub const TOKEN_URLS: [&str; 2] = [
    "https://platform.claude.com/v1/oauth/token",
    "https://console.anthropic.com/v1/oauth/token",
];
/// The token endpoint rate-limits `claude-code/…` user agents; the reference sends this one.
pub const USER_AGENT: &str = "axios/1.7.9";
pub const BASE_URL: &str = "https://api.anthropic.com";
/// Refresh when the access token expires within this many milliseconds.
pub const REFRESH_SKEW_MS: i64 = 120_000;
/// Pool source of a login made by `hermes auth add anthropic`.
pub const SOURCE: &str = "manual:hermes_pkce";

/// The token endpoints, in the order tried (one when overridden).
pub fn token_urls() -> Vec<String> {
    match super::env_nonempty(envvars::HERMES_ANTHROPIC_OAUTH_TOKEN_URL) {
        Some(u) => vec![u],
        None => TOKEN_URLS.iter().map(|s| s.to_string()).collect(),
    }
}

/// One login attempt: PKCE pair, state and the authorize URL to show.
#[derive(Debug, Clone)]
pub struct Login {
    pub pkce: Pkce,
    pub state: String,
    pub url: String,
}

impl Login {
    pub fn new() -> Self {
        let pkce = Pkce::new(32);
        let state = pkce::random_urlsafe(32);
        let base = super::env_nonempty(envvars::HERMES_ANTHROPIC_OAUTH_AUTHORIZE_URL)
            .unwrap_or(AUTHORIZE_URL.into());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", "true")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", SCOPES)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .finish();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}{query}");
        Self { pkce, state, url }
    }
}

impl Default for Login {
    fn default() -> Self {
        Self::new()
    }
}

/// Tokens from an exchange or refresh.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &crate::secret::redact(&self.access_token))
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Whether a failed attempt may be retried on the next endpoint: only when the server did not
/// judge the grant (transport error, 404, 5xx). A 4xx answer consumed the code or refresh
/// token's chance, and replaying a single-use token elsewhere would only burn it.
fn try_next(r: &Result<HttpReply, String>) -> bool {
    match r {
        Err(_) => true,
        Ok(rep) => rep.status == 404 || rep.status >= 500,
    }
}

fn describe(r: &Result<HttpReply, String>) -> String {
    match r {
        Err(e) => e.clone(),
        Ok(rep) => match rep.oauth_error() {
            Some((e, Some(d))) => format!("HTTP {}: {e}: {d}", rep.status),
            Some((e, None)) => format!("HTTP {}: {e}", rep.status),
            _ if rep.ok() => "the response is not a JSON object".into(),
            _ => format!("HTTP {}: {}", rep.status, rep.excerpt()),
        },
    }
}

/// POSTs `body` to each token endpoint in turn; returns the first 2xx JSON object.
fn post_tokens(
    body: Body<'_>,
    timeout: Duration,
) -> Result<serde_json::Map<String, Value>, FlowError> {
    let urls = token_urls();
    let mut last: Option<Result<HttpReply, String>> = None;
    for url in &urls {
        let body = match &body {
            Body::Form(f) => Body::Form(f),
            Body::Json(j) => Body::Json(j),
            Body::None => Body::None,
        };
        let r = pkce::send(
            "POST",
            url,
            body,
            &[("User-Agent", USER_AGENT), ("Accept", "application/json")],
            timeout,
        );
        if let Ok(rep) = &r
            && rep.ok()
            && let Some(j) = rep.json()
        {
            return Ok(j);
        }
        let retry = try_next(&r);
        last = Some(r);
        if !retry {
            break;
        }
    }
    let last = last.expect("at least one endpoint");
    let mut err = FlowError::new(describe(&last));
    if let Ok(rep) = &last
        && let Some((code, _)) = rep.oauth_error()
    {
        if matches!(code.as_str(), "invalid_grant" | "invalid_token") {
            err = err.relogin();
        }
        err = err.code(code);
    }
    Err(err)
}

fn tokens_from(
    j: &serde_json::Map<String, Value>,
    old_refresh: Option<&str>,
    now: f64,
) -> Result<Tokens, FlowError> {
    let Some(at) = str_field(j, "access_token") else {
        return Err(FlowError::new("No access token in response.").code("missing_access_token"));
    };
    Ok(Tokens {
        access_token: at.to_string(),
        refresh_token: str_field(j, "refresh_token")
            .map(str::to_string)
            .or_else(|| old_refresh.map(str::to_string)),
        expires_at_ms: pkce::now_ms(now) + pkce::expires_in(j, 3600) * 1000,
    })
}

/// Exchanges a pasted code for tokens (JSON body, 15 s timeout).
pub fn exchange_code(login: &Login, code: &str, now: f64) -> Result<Tokens, FlowError> {
    let body = json!({
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": code,
        "state": login.state,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": login.pkce.verifier,
    });
    let j = post_tokens(Body::Json(&body), Duration::from_secs(15)).map_err(|e| FlowError {
        message: format!("Token exchange failed: {}", e.message),
        ..e
    })?;
    tokens_from(&j, None, now)
}

/// Refreshes with `refresh_token`: JSON for Hermes' own PKCE logins, form otherwise.
pub fn refresh_tokens(refresh_token: &str, json_body: bool, now: f64) -> Result<Tokens, FlowError> {
    let timeout = Duration::from_secs(10);
    let j = if json_body {
        let body = json!({
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
        });
        post_tokens(Body::Json(&body), timeout)
    } else {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
        ];
        post_tokens(Body::Form(&form), timeout)
    }
    .map_err(|e| FlowError {
        message: format!("Anthropic token refresh failed: {}", e.message),
        ..e
    })?;
    tokens_from(&j, Some(refresh_token), now)
}

/// Pool rule (pool spec §10.1): OAuth entries with `expires_at_ms` at or before now + 120 s.
pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    entry.auth_type == crate::pool::entry::AUTH_OAUTH
        && entry
            .expires_at_ms
            .is_some_and(|ms| ms <= pkce::now_ms(now) + REFRESH_SKEW_MS)
}

fn is_hermes_pkce(source: &str) -> bool {
    source.ends_with("hermes_pkce")
}

/// Refreshes one `credential_pool.anthropic` entry, single-flight across processes: under the
/// store lock it re-reads the row and adopts tokens another process already rotated;
/// otherwise it POSTs and persists the new tokens before returning. Entries borrowed from
/// Claude Code write back to `~/.claude/.credentials.json`; the seeded `hermes_pkce` entry
/// also updates `$HERMES_HOME/.anthropic_oauth.json`.
pub fn refresh(
    ctx: &PoolContext,
    pool_key: &str,
    entry: &PoolEntry,
) -> Result<PoolEntry, PoolError> {
    let fail = |message: String| PoolError::Refresh {
        label: entry.label.clone(),
        message,
    };
    let lock = StoreLock::acquire(&ctx.home)?;
    let mut store = AuthStore::load_locked(&lock)?;
    let now = ctx.now();
    let claude_file = (entry.source == "claude_code")
        .then(|| {
            ctx.user_home
                .as_ref()
                .map(|h| h.join(".claude/.credentials.json"))
        })
        .flatten();
    let mut current = stored_or(&store, pool_key, entry);
    if let Some(path) = &claude_file
        && let Some((at, rt, exp)) = read_camel(path, Some("claudeAiOauth"))
    {
        current.access_token = Some(at);
        current.refresh_token = rt;
        current.expires_at_ms = exp;
    }
    let rotated =
        current.access_token != entry.access_token || current.refresh_token != entry.refresh_token;
    if rotated
        && current
            .access_token
            .as_deref()
            .is_some_and(|a| !a.is_empty())
        && !needs_refresh(&current, now)
    {
        return Ok(current);
    }
    let Some(rt) = current.refresh_token.clone().filter(|r| !r.is_empty()) else {
        return Err(fail(
            "no refresh token stored; run `hermes auth add anthropic`".into(),
        ));
    };
    let t =
        refresh_tokens(&rt, is_hermes_pkce(&current.source), now).map_err(|e| fail(e.message))?;
    current.access_token = Some(t.access_token.clone());
    current.refresh_token = t.refresh_token.clone();
    current.expires_at_ms = Some(t.expires_at_ms);
    current.clear_status();
    if let Some(path) = &claude_file {
        write_camel(path, Some("claudeAiOauth"), &t).map_err(|e| fail(e.to_string()))?;
    } else if current.source == "hermes_pkce" {
        let path = ctx.home.anthropic_oauth_json();
        if path.exists() {
            write_camel(&path, None, &t).map_err(|e| fail(e.to_string()))?;
        }
    }
    if stored_pool_has(&store, pool_key, &current.id) {
        pkce::put_pool_entry(&mut store, pool_key, &current);
        store.save(&lock)?;
    }
    Ok(current)
}

fn stored_pool_has(store: &AuthStore, key: &str, id: &str) -> bool {
    pkce::stored_pool_entry(store, key, id).is_some()
}

/// The stored row (with the caller's secrets for borrowed rows, whose secrets are not stored).
fn stored_or(store: &AuthStore, key: &str, entry: &PoolEntry) -> PoolEntry {
    match pkce::stored_pool_entry(store, key, &entry.id) {
        Some(mut s) => {
            if crate::pool::sanitize::is_borrowed(key, &s.source) {
                s.access_token = entry.access_token.clone();
                s.refresh_token = entry.refresh_token.clone();
            }
            s
        }
        None => entry.clone(),
    }
}

/// `{accessToken, refreshToken, expiresAt}` (optionally under `wrapper`).
fn read_camel(
    path: &std::path::Path,
    wrapper: Option<&str>,
) -> Option<(String, Option<String>, Option<i64>)> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let o = match wrapper {
        Some(w) => v.get(w)?,
        None => &v,
    }
    .as_object()?;
    Some((
        str_field(o, "accessToken")?.to_string(),
        str_field(o, "refreshToken").map(str::to_string),
        o.get("expiresAt").and_then(Value::as_i64),
    ))
}

fn write_camel(
    path: &std::path::Path,
    wrapper: Option<&str>,
    t: &Tokens,
) -> Result<(), crate::store::StoreError> {
    let mut doc: Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let target = match wrapper {
        Some(w) => {
            if !doc.get(w).is_some_and(Value::is_object) {
                doc[w] = json!({});
            }
            &mut doc[w]
        }
        None => &mut doc,
    };
    target["accessToken"] = json!(t.access_token);
    if let Some(rt) = &t.refresh_token {
        target["refreshToken"] = json!(rt);
    }
    target["expiresAt"] = json!(t.expires_at_ms);
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("serializable");
    bytes.push(b'\n');
    crate::store::atomic::write_atomic(path, &bytes, 0o600)
}

/// Refreshes every expiring OAuth entry of the anthropic pool (used by `auth status`, which
/// spends a refresh token only when the access token is unusable). Returns the first failure.
pub fn refresh_expiring(ctx: &PoolContext) -> Result<Option<String>, PoolError> {
    let store = AuthStore::load(&ctx.home)?;
    let now = ctx.now();
    let due: Vec<PoolEntry> = store
        .pool_entries("anthropic")
        .into_iter()
        .map(|m| PoolEntry::from_map("anthropic", m))
        .filter(|e| is_hermes_pkce(&e.source) && needs_refresh(e, now))
        .filter(|e| e.refresh_token.as_deref().is_some_and(|r| !r.is_empty()))
        .collect();
    let mut first_err = None;
    for e in due {
        match refresh(ctx, "anthropic", &e) {
            Ok(_) => {}
            Err(PoolError::Refresh { label, message }) => {
                first_err.get_or_insert(format!("{label}: {message}"));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(first_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_has_the_reference_parameter_order() {
        let l = Login::new();
        let prefix = "https://claude.ai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e&response_type=code&redirect_uri=https%3A%2F%2Fconsole.anthropic.com%2Foauth%2Fcode%2Fcallback&scope=org%3Acreate_api_key+user%3Aprofile+user%3Ainference&code_challenge=";
        assert!(l.url.starts_with(prefix), "{}", l.url);
        assert!(l.url.ends_with(&format!(
            "{}&code_challenge_method=S256&state={}",
            l.pkce.challenge, l.state
        )));
        assert_eq!(l.state.len(), 43);
    }

    #[test]
    fn refresh_margin() {
        let mut e = PoolEntry::new("x", "oauth", SOURCE);
        assert!(!needs_refresh(&e, 1000.0));
        e.expires_at_ms = Some(1_000_000 + 120_000);
        assert!(needs_refresh(&e, 1000.0));
        e.expires_at_ms = Some(1_000_000 + 120_001);
        assert!(!needs_refresh(&e, 1000.0));
        e.auth_type = "api_key".into();
        e.expires_at_ms = Some(0);
        assert!(!needs_refresh(&e, 1000.0));
    }
}
