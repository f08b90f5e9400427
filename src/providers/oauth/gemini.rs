//! Google Gemini CLI OAuth (`google-gemini-cli`, spec oauth-flows §10): authorization code +
//! PKCE with a loopback redirect on 127.0.0.1 (ephemeral-port fallback), the account email as
//! the default label, refresh, and the Gemini CLI credential file
//! `$HERMES_HOME/auth/google_oauth.json` = `{"refresh": "<rt>|<project>|<managed>",
//! "access", "expires" (ms), "email"}`. The pool entry mirrors that file; a refresh updates
//! both under the store lock.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::pkce::{self, Body, FlowError, Pkce, str_field};
use crate::envvars;
use crate::home::Home;
use crate::pool::{PoolContext, PoolEntry, PoolError};
use crate::store::{AuthStore, StoreLock};

pub const ID: &str = "google-gemini-cli";
pub const AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const USERINFO_URL: &str = "https://www.googleapis.com/oauth2/v1/userinfo?alt=json";
/// Google's public Gemini CLI desktop client (an installed-app client: the secret is not
/// confidential, as Google documents for native apps).
pub const DEFAULT_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
pub const DEFAULT_CLIENT_SECRET: &str = "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";
pub const SCOPES: &str = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile";
pub const REDIRECT_HOST: &str = "127.0.0.1";
pub const REDIRECT_PORT: u16 = 8085;
pub const REDIRECT_PATH: &str = "/oauth2callback";
pub const BASE_URL: &str = "https://cloudcode-pa.googleapis.com";
/// Refresh when the access token expires within this many seconds.
pub const REFRESH_SKEW_SECS: f64 = 60.0;
/// Pool source of a login made by `hermes auth add google-gemini-cli`.
pub const SOURCE: &str = "manual:google_pkce";

pub fn token_url() -> String {
    super::env_nonempty(envvars::HERMES_GEMINI_OAUTH_TOKEN_URL).unwrap_or_else(|| TOKEN_URL.into())
}

fn client() -> (String, String) {
    (
        super::env_nonempty(envvars::HERMES_GEMINI_CLIENT_ID)
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.into()),
        super::env_nonempty(envvars::HERMES_GEMINI_CLIENT_SECRET)
            .unwrap_or_else(|| DEFAULT_CLIENT_SECRET.into()),
    )
}

/// `$HERMES_HOME/auth/google_oauth.json`.
pub fn creds_path(home: &Home) -> PathBuf {
    home.dir().join("auth").join("google_oauth.json")
}

/// A login without a usable local browser (SSH, `HERMES_HEADLESS`).
pub fn headless() -> bool {
    pkce::is_remote_session()
        || ["SSH_CONNECTION", envvars::HERMES_HEADLESS]
            .iter()
            .any(|v| super::env_nonempty(v).is_some())
}

/// One login attempt.
#[derive(Debug, Clone)]
pub struct Login {
    pub pkce: Pkce,
    pub state: String,
    pub redirect_uri: String,
    pub url: String,
}

impl Login {
    pub fn new(redirect_uri: &str) -> Self {
        let pkce = Pkce::new(64);
        let state = pkce::random_urlsafe(32);
        let base = super::env_nonempty(envvars::HERMES_GEMINI_OAUTH_AUTHORIZE_URL)
            .unwrap_or_else(|| AUTHORIZE_URL.into());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &client().0)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", SCOPES)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .finish();
        let sep = if base.contains('?') { '&' } else { '?' };
        Self {
            url: format!("{base}{sep}{query}"),
            pkce,
            state,
            redirect_uri: redirect_uri.to_string(),
        }
    }
}

/// Tokens and identity from a login or refresh.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at_ms: i64,
    pub email: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &crate::secret::redact(&self.access_token))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

fn post_token(form: &[(&str, &str)], timeout: Duration) -> Result<Map<String, Value>, FlowError> {
    let rep = pkce::send(
        "POST",
        &token_url(),
        Body::Form(form),
        &[("Accept", "application/json")],
        timeout,
    )
    .map_err(|e| FlowError::new(format!("cannot reach the Google token endpoint: {e}")))?;
    if rep.ok()
        && let Some(j) = rep.json()
    {
        return Ok(j);
    }
    let code = rep.oauth_error().map(|(c, _)| c);
    let what = rep.excerpt();
    let mut err = FlowError::new(format!("HTTP {}: {what}", rep.status));
    if let Some(c) = code {
        if c == "invalid_grant" {
            err = err.relogin();
        }
        err = err.code(c);
    }
    Err(err)
}

fn email_of(j: &Map<String, Value>, access: &str, timeout: Duration) -> Option<String> {
    let from_jwt = |t: &str| {
        crate::jwt::claims(t)
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(e) = str_field(j, "id_token").and_then(from_jwt) {
        return Some(e);
    }
    if let Some(e) = from_jwt(access) {
        return Some(e);
    }
    // Only ask Google's userinfo endpoint when talking to Google (or when told where).
    let url = super::env_nonempty(envvars::HERMES_GEMINI_OAUTH_USERINFO_URL).or_else(|| {
        super::env_nonempty(envvars::HERMES_GEMINI_OAUTH_TOKEN_URL)
            .is_none()
            .then(|| USERINFO_URL.to_string())
    })?;
    let bearer = format!("Bearer {access}");
    let rep = pkce::send(
        "GET",
        &url,
        Body::None,
        &[("Authorization", &bearer), ("Accept", "application/json")],
        timeout,
    )
    .ok()?;
    rep.json()
        .and_then(|m| str_field(&m, "email").map(str::to_string))
}

fn tokens_from(
    j: &Map<String, Value>,
    old_refresh: Option<&str>,
    now: f64,
) -> Result<Tokens, FlowError> {
    let Some(at) = str_field(j, "access_token") else {
        return Err(FlowError::new("the token response has no access_token"));
    };
    let Some(rt) = str_field(j, "refresh_token").or(old_refresh) else {
        return Err(FlowError::new(
            "the token response has no refresh_token (consent with access_type=offline is needed)",
        ));
    };
    Ok(Tokens {
        access_token: at.to_string(),
        refresh_token: rt.to_string(),
        expires_at_ms: pkce::now_ms(now) + pkce::expires_in(j, 3600) * 1000,
        email: None,
    })
}

/// Exchanges the code (form body with the desktop client's id and secret).
pub fn exchange(
    login: &Login,
    code: &str,
    now: f64,
    timeout: Duration,
) -> Result<Tokens, FlowError> {
    let (id, secret) = client();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", login.redirect_uri.as_str()),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("code_verifier", login.pkce.verifier.as_str()),
    ];
    let j = post_token(&form, timeout).map_err(|e| FlowError {
        message: format!("Google token exchange failed: {}", e.message),
        ..e
    })?;
    let mut t = tokens_from(&j, None, now)?;
    t.email = email_of(&j, &t.access_token, timeout);
    Ok(t)
}

/// The credential file's content.
#[derive(Clone, PartialEq, Eq)]
pub struct Creds {
    pub access: String,
    pub refresh: String,
    /// `<project>|<managed project>` kept verbatim from the packed `refresh` field.
    pub projects: String,
    pub expires_ms: Option<i64>,
    pub email: Option<String>,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("expires_ms", &self.expires_ms)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

pub fn read_creds(home: &Home) -> Option<Creds> {
    let v: Value = serde_json::from_slice(&std::fs::read(creds_path(home)).ok()?).ok()?;
    let o = v.as_object()?;
    let packed = str_field(o, "refresh").unwrap_or("");
    let (rt, projects) = packed.split_once('|').unwrap_or((packed, "|"));
    Some(Creds {
        access: str_field(o, "access").unwrap_or("").to_string(),
        refresh: rt.to_string(),
        projects: projects.to_string(),
        expires_ms: o.get("expires").and_then(Value::as_i64),
        email: str_field(o, "email").map(str::to_string),
    })
}

pub fn write_creds(home: &Home, c: &Creds) -> Result<(), crate::store::StoreError> {
    let path = creds_path(home);
    if let Some(dir) = path.parent() {
        crate::store::atomic::ensure_private_dir(dir)?;
    }
    let mut doc = json!({
        "refresh": format!("{}|{}", c.refresh, c.projects),
        "access": c.access,
        "expires": c.expires_ms,
    });
    if let Some(e) = &c.email {
        doc["email"] = json!(e);
    }
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("serializable");
    bytes.push(b'\n');
    crate::store::atomic::write_atomic(&path, &bytes, 0o600)
}

/// Saves a fresh login: the credential file, then a pool entry (returns its 1-based position).
pub fn save_login(
    ctx: &PoolContext,
    pool: &mut crate::pool::CredentialPool,
    t: &Tokens,
    label: &str,
) -> Result<usize, PoolError> {
    // The login does not discover Cloud projects; a new login of the same account keeps the
    // `<project>|<managed project>` fields a previous one (or the Gemini CLI) stored.
    let projects = read_creds(&ctx.home)
        .filter(|old| old.email.is_some() && old.email == t.email)
        .map_or_else(|| "|".to_string(), |old| old.projects);
    write_creds(
        &ctx.home,
        &Creds {
            access: t.access_token.clone(),
            refresh: t.refresh_token.clone(),
            projects,
            expires_ms: Some(t.expires_at_ms),
            email: t.email.clone(),
        },
    )?;
    let mut e = PoolEntry::new(label, crate::pool::entry::AUTH_OAUTH, SOURCE);
    e.access_token = Some(t.access_token.clone());
    e.refresh_token = Some(t.refresh_token.clone());
    e.expires_at_ms = Some(t.expires_at_ms);
    e.base_url = Some(BASE_URL.into());
    pool.add(e)
}

/// After `auth remove` took `removed` out of the pool: deletes the credential file when it
/// backs that entry (same refresh token, or no refresh token on the entry). Returns the line
/// to print, if any.
pub fn forget_removed(home: &Home, removed: &PoolEntry) -> Option<String> {
    let c = read_creds(home)?;
    let rt = removed.refresh_token.as_deref().unwrap_or("");
    if !rt.is_empty() && rt != c.refresh {
        return None;
    }
    let path = creds_path(home);
    Some(match std::fs::remove_file(&path) {
        Ok(()) => "Cleared Hermes Google Gemini OAuth credentials".into(),
        Err(e) => format!("Could not delete {}: {e}", path.display()),
    })
}

/// Pool rule: OAuth entries whose `expires_at_ms` is within 60 s.
pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    entry.auth_type == crate::pool::entry::AUTH_OAUTH
        && entry
            .expires_at_ms
            .is_some_and(|ms| (ms as f64) <= (now + REFRESH_SKEW_SECS) * 1000.0)
}

fn creds_expiring(c: &Creds, now: f64) -> bool {
    c.expires_ms
        .is_none_or(|ms| (ms as f64) <= (now + REFRESH_SKEW_SECS) * 1000.0)
}

/// Refreshes the login under the store lock. The credential file is the source of truth:
/// when it already holds a token newer than the caller's and not expiring, that one is
/// adopted without a request. The rotated tokens go to the file first, then to every pool
/// entry of this provider that held the old refresh token. `invalid_grant` deletes the file
/// (the grant is dead) and is returned as a relogin error.
pub fn refresh_creds(
    ctx: &PoolContext,
    seen_access: Option<&str>,
    force: bool,
) -> Result<Creds, FlowError> {
    let store_err = |e: crate::store::StoreError| FlowError::new(e.to_string());
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let now = ctx.now();
    let Some(mut c) = read_creds(&ctx.home) else {
        return Err(FlowError::new(format!(
            "no Google Gemini login found ({}); run `hermes auth add {ID}`",
            creds_path(&ctx.home).display()
        ))
        .relogin());
    };
    let newer = seen_access.is_some_and(|s| s != c.access);
    if !c.access.is_empty() && !creds_expiring(&c, now) && (newer || !force) {
        sync_pool(&lock, &c, None).map_err(store_err)?;
        return Ok(c);
    }
    if c.refresh.is_empty() {
        return Err(FlowError::new(format!(
            "the Google Gemini login has no refresh token; run `hermes auth add {ID}`"
        ))
        .relogin());
    }
    let (id, secret) = client();
    let old_refresh = c.refresh.clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old_refresh.as_str()),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let j = match post_token(&form, Duration::from_secs(20)) {
        Ok(j) => j,
        Err(e) => {
            if e.code.as_deref() == Some("invalid_grant") {
                let _ = std::fs::remove_file(creds_path(&ctx.home));
            }
            return Err(FlowError {
                message: format!("Google Gemini token refresh failed: {}", e.message),
                ..e
            });
        }
    };
    let t = tokens_from(&j, Some(&old_refresh), now)?;
    c.access = t.access_token;
    c.refresh = t.refresh_token;
    c.expires_ms = Some(t.expires_at_ms);
    write_creds(&ctx.home, &c).map_err(store_err)?;
    sync_pool(&lock, &c, Some(&old_refresh)).map_err(store_err)?;
    Ok(c)
}

/// Copies the file's tokens into the pool entries that mirror it (source `manual:google_pkce`
/// holding `old_refresh`, or the file's current refresh token).
fn sync_pool(
    lock: &StoreLock,
    c: &Creds,
    old_refresh: Option<&str>,
) -> Result<(), crate::store::StoreError> {
    let mut store = AuthStore::load_locked(lock)?;
    let mut changed = false;
    for m in store
        .pool_entries(ID)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>()
    {
        let mut e = PoolEntry::from_map(ID, &m);
        let rt = e.refresh_token.as_deref();
        let mirrors = e.source == SOURCE
            && (rt == Some(c.refresh.as_str()) || (old_refresh.is_some() && rt == old_refresh));
        if !mirrors
            || (e.access_token.as_deref() == Some(c.access.as_str())
                && rt == Some(c.refresh.as_str()))
        {
            continue;
        }
        e.access_token = Some(c.access.clone());
        e.refresh_token = Some(c.refresh.clone());
        e.expires_at_ms = c.expires_ms;
        e.clear_status();
        pkce::put_pool_entry(&mut store, ID, &e);
        changed = true;
    }
    if changed {
        store.save(lock)?;
    }
    Ok(())
}

/// `TokenRefresher` arm: refreshes a `google-gemini-cli` pool entry (see [`refresh_creds`]).
pub fn refresh(
    ctx: &PoolContext,
    _pool_key: &str,
    entry: &PoolEntry,
) -> Result<PoolEntry, PoolError> {
    refresh_creds(ctx, entry.access_token.as_deref(), true).map_err(|e| PoolError::Refresh {
        label: entry.label.clone(),
        message: e.message,
    })?;
    let store = AuthStore::load(&ctx.home)?;
    Ok(pkce::stored_pool_entry(&store, ID, &entry.id).unwrap_or_else(|| entry.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_file_round_trip_keeps_projects() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::at(d.path().join("h"));
        let c = Creds {
            access: "a".into(),
            refresh: "r".into(),
            projects: "p1|m1".into(),
            expires_ms: Some(5),
            email: Some("x@y".into()),
        };
        write_creds(&home, &c).unwrap();
        assert_eq!(read_creds(&home).unwrap(), c);
        let raw: Value =
            serde_json::from_slice(&std::fs::read(creds_path(&home)).unwrap()).unwrap();
        assert_eq!(raw["refresh"], "r|p1|m1");
        assert_eq!(raw["expires"], 5);
    }
}
