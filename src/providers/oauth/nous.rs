//! Nous Portal: device-code login, runtime credential (both portal generations), refresh,
//! quarantine and the shared cross-profile token store.
//!
//! Two portal generations are served:
//! * **agent-key** (two-stage): the OAuth access token mints a short-lived inference key with
//!   `POST {portal}/api/oauth/agent-key`; the access token is refreshed first when within 120 s of
//!   expiry, the key re-minted when within 120 s of expiry (and once after an inference 401).
//! * **invoke-JWT** (0.19): the access token itself is the inference bearer; `agent_key*` mirror it.
//!
//! The first mint answered 404/405 selects the invoke-JWT model, remembered in
//! `providers.nous.credential_model` (a field the reference ignores), so it is not probed again.
//! Every refresh/mint runs under the store lock on freshly re-read state, and a rotated refresh
//! token is written (auth.json + pool row + shared store, fsynced) before any further request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::http::{self, HttpOptions, Reply};
use super::{BrowserPolicy, ErrorKind, OAuthError, device, env_nonempty, jsecs, jstr, say};
use crate::envvars;
use crate::home::Home;
use crate::pool::{PoolContext, PoolEntry, seed};
use crate::store::{AuthStore, StoreLock, atomic};
use crate::timefmt::{iso_utc_micros, parse_iso};

pub const ID: &str = "nous";
pub const DISPLAY: &str = "Nous Portal";
pub const RELOGIN: &str = "hermes auth add nous";
pub const DEFAULT_PORTAL: &str = "https://portal.nousresearch.com";
pub const DEFAULT_INFERENCE: &str = "https://inference-api.nousresearch.com/v1";
pub const CLIENT_ID: &str = "hermes-cli";
pub const DEFAULT_SCOPE: &str = "inference:invoke";
/// Refresh/re-mint margin.
pub const SKEW: f64 = 120.0;
/// Default `min_ttl_seconds` asked of the agent-key mint.
pub const DEFAULT_MIN_KEY_TTL: u64 = 1800;
/// Extra field in `providers.nous` remembering the portal generation.
pub const MODEL_FIELD: &str = "credential_model";
pub const MODEL_AGENT_KEY: &str = "agent_key";
pub const MODEL_INVOKE_JWT: &str = "invoke_jwt";

const TOKEN_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "expires_at",
    "expires_in",
    "obtained_at",
    "agent_key",
    "agent_key_id",
    "agent_key_expires_at",
    "agent_key_expires_in",
    "agent_key_reused",
    "agent_key_obtained_at",
];

type State = Map<String, Value>;

fn err(kind: ErrorKind, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(DISPLAY, kind, msg)
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

fn env_portal() -> Option<String> {
    env_nonempty(envvars::HERMES_PORTAL_BASE_URL)
        .or_else(|| env_nonempty(envvars::NOUS_PORTAL_BASE_URL))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// A stored portal URL is used only if it is the Nous portal (https) or loopback.
fn portal_allowed(u: &str) -> bool {
    let Ok(url) = url::Url::parse(u) else {
        return false;
    };
    match url.host_str() {
        Some("portal.nousresearch.com") => url.scheme() == "https",
        Some("localhost") | Some("127.0.0.1") => matches!(url.scheme(), "http" | "https"),
        _ => false,
    }
}

/// The portal refreshes go to: env override, else the stored value if allowed, else the default.
pub fn effective_portal(state: &State) -> String {
    if let Some(p) = env_portal() {
        return p;
    }
    jstr(state, "portal_base_url")
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| portal_allowed(u))
        .unwrap_or_else(|| DEFAULT_PORTAL.to_string())
}

/// Network-provided inference URLs are kept only when they are the Nous inference host.
fn inference_allowed(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|url| {
        url.scheme() == "https" && url.host_str() == Some("inference-api.nousresearch.com")
    })
}

fn healed_inference(state: &State) -> String {
    jstr(state, "inference_base_url")
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| inference_allowed(u))
        .unwrap_or_else(|| DEFAULT_INFERENCE.to_string())
}

/// The inference base URL requests use (`NOUS_INFERENCE_BASE_URL` overlays, never persisted).
pub fn runtime_inference(state: &State) -> String {
    env_nonempty(envvars::NOUS_INFERENCE_BASE_URL)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| healed_inference(state))
}

// ---------------------------------------------------------------------------------------------
// Invoke-JWT rule
// ---------------------------------------------------------------------------------------------

/// Why `token` is not a usable inference JWT, or `None` when it is.
pub fn invoke_unusable(
    token: &str,
    scope: Option<&str>,
    expires_at: Option<&str>,
    now: f64,
) -> Option<&'static str> {
    if !crate::jwt::is_jwt(token) {
        return Some("access_token_not_jwt");
    }
    let mut scopes = crate::jwt::scopes(token);
    if let Some(s) = scope {
        scopes.extend(
            s.split([' ', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_string),
        );
    }
    if !scopes.iter().any(|s| s == "inference:invoke") {
        return Some("missing_inference_invoke_scope");
    }
    match crate::jwt::exp(token) {
        Some(exp) if exp <= now + SKEW => Some("invoke_jwt_expiring"),
        Some(_) => None,
        None => match expires_at.and_then(parse_iso) {
            Some(e) if e > now + SKEW => None,
            _ => Some("invoke_jwt_expiry_unknown_or_expiring"),
        },
    }
}

fn state_unusable(state: &State, now: f64) -> Option<&'static str> {
    let Some(at) = jstr(state, "access_token") else {
        return Some("no_access_token");
    };
    invoke_unusable(at, jstr(state, "scope"), jstr(state, "expires_at"), now)
}

/// Fills the `agent_key*` mirror of a usable invoke JWT.
fn mirror_invoke(state: &mut State, now: f64) {
    let Some(at) = jstr(state, "access_token").map(str::to_string) else {
        return;
    };
    let exp = crate::jwt::exp(&at).or_else(|| jstr(state, "expires_at").and_then(parse_iso));
    let changed_key = jstr(state, "agent_key") != Some(at.as_str());
    state.insert("agent_key".into(), json!(at));
    state.insert("agent_key_id".into(), Value::Null);
    if let Some(exp) = exp {
        let iso = iso_utc_micros(exp.floor());
        let left = (exp - now).max(0.0) as i64;
        state.insert("expires_at".into(), json!(iso));
        state.insert("agent_key_expires_at".into(), json!(iso));
        state.insert("expires_in".into(), json!(left));
        state.insert("agent_key_expires_in".into(), json!(left));
    }
    state.insert("agent_key_reused".into(), json!(false));
    if changed_key || !state.contains_key("agent_key_obtained_at") {
        state.insert("agent_key_obtained_at".into(), json!(iso_utc_micros(now)));
    }
}

fn expiring(iso: Option<&str>, now: f64) -> bool {
    iso.and_then(parse_iso).is_none_or(|e| e <= now + SKEW)
}

// ---------------------------------------------------------------------------------------------
// HTTP pieces: refresh and mint
// ---------------------------------------------------------------------------------------------

const REUSE_MESSAGE: &str = "Nous Portal detected refresh-token reuse and revoked this session.\n\
This usually means an external process (monitoring script, custom self-heal hook, or another Hermes install sharing ~/.hermes/auth.json) called POST /api/oauth/token with Hermes's refresh token without persisting the rotated token back.\n\
Nous refresh tokens are single-use — only Hermes may call the refresh endpoint. For health checks, use `hermes auth status` instead.\n\
Re-authenticate with: hermes auth add nous";

fn refresh_error(reply: &Reply) -> OAuthError {
    let Some(m) = reply.json() else {
        return err(
            ErrorKind::Protocol,
            format!(
                "Nous Portal token refresh failed: HTTP {} ({}).",
                reply.status,
                reply.excerpt()
            ),
        )
        .next(RELOGIN);
    };
    let code = jstr(&m, "error").unwrap_or("invalid_grant").to_string();
    let desc = jstr(&m, "error_description")
        .unwrap_or("Refresh token exchange failed")
        .to_string();
    let reuse = code == "refresh_token_reused" || desc.to_lowercase().contains("reuse");
    let terminal = reuse || matches!(code.as_str(), "invalid_grant" | "invalid_token");
    let message = if reuse {
        REUSE_MESSAGE.to_string()
    } else if terminal {
        format!("Nous Portal token refresh failed: {code}: {desc}. Re-authenticate with: {RELOGIN}")
    } else {
        format!("Nous Portal token refresh failed: {code}: {desc}")
    };
    let kind = if terminal {
        ErrorKind::Terminal
    } else if reply.status >= 500 || reply.status == 429 {
        ErrorKind::Transport
    } else {
        ErrorKind::Protocol
    };
    err(kind, message).code(code).next(RELOGIN)
}

/// One refresh: `POST {portal}/api/oauth/token` with the refresh token in `x-nous-refresh-token`.
/// Updates `state` (tokens, expiry, inference URL).
async fn refresh_state(
    client: &reqwest::Client,
    portal: &str,
    state: &mut State,
    now: f64,
) -> Result<(), OAuthError> {
    let Some(rt) = jstr(state, "refresh_token").map(str::to_string) else {
        return Err(err(
            ErrorKind::Terminal,
            format!(
                "Nous Portal access token is not usable and no refresh token is available. Re-authenticate with: {RELOGIN}"
            ),
        )
        .code("invalid_token")
        .next(RELOGIN));
    };
    let client_id = jstr(state, "client_id").unwrap_or(CLIENT_ID).to_string();
    let reply = http::post_form(
        DISPLAY,
        "Nous Portal token refresh",
        client,
        &format!("{portal}/api/oauth/token"),
        &[("grant_type", "refresh_token"), ("client_id", &client_id)],
        &[("x-nous-refresh-token", &rt)],
    )
    .await
    .map_err(|e| {
        e.next(format!(
            "hermes auth status nous (retry later) or {RELOGIN}"
        ))
    })?;
    if reply.status != 200 {
        return Err(refresh_error(&reply));
    }
    let m = reply.json().ok_or_else(|| {
        err(
            ErrorKind::Protocol,
            "Nous Portal token refresh returned a response that is not JSON.",
        )
    })?;
    let Some(at) = jstr(&m, "access_token") else {
        return Err(err(
            ErrorKind::Terminal,
            format!(
                "Nous Portal refresh response missing access_token. Re-authenticate with: {RELOGIN}"
            ),
        )
        .code("invalid_token")
        .next(RELOGIN));
    };
    state.insert("access_token".into(), json!(at));
    if let Some(new_rt) = jstr(&m, "refresh_token") {
        state.insert("refresh_token".into(), json!(new_rt));
    }
    let tt = jstr(&m, "token_type")
        .or(jstr(state, "token_type"))
        .unwrap_or("Bearer")
        .to_string();
    state.insert("token_type".into(), json!(tt));
    if let Some(s) = jstr(&m, "scope") {
        state.insert("scope".into(), json!(s));
    }
    let inf = jstr(&m, "inference_base_url")
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| inference_allowed(u))
        .unwrap_or_else(|| DEFAULT_INFERENCE.to_string());
    state.insert("inference_base_url".into(), json!(inf));
    state.insert("obtained_at".into(), json!(iso_utc_micros(now)));
    let ttl = jsecs(&m, "expires_in").unwrap_or(0.0).max(0.0);
    state.insert("expires_in".into(), json!(ttl as i64));
    state.insert(
        "expires_at".into(),
        json!(iso_utc_micros((now + ttl).floor())),
    );
    Ok(())
}

/// What a mint answered.
enum Mint {
    Minted,
    /// 404/405: this portal has no agent-key endpoint (0.19 model).
    NotSupported,
    /// 401: the access token was rejected.
    Unauthorized,
}

async fn mint(
    client: &reqwest::Client,
    portal: &str,
    state: &mut State,
    min_ttl: u64,
    now: f64,
) -> Result<Mint, OAuthError> {
    let Some(at) = jstr(state, "access_token").map(str::to_string) else {
        return Err(err(
            ErrorKind::NotLoggedIn,
            "No access token found for Nous Portal login.",
        )
        .next(RELOGIN));
    };
    let reply = http::post_json(
        DISPLAY,
        "Nous Portal agent-key mint",
        client,
        &format!("{portal}/api/oauth/agent-key"),
        &json!({"min_ttl_seconds": min_ttl.max(60)}),
        &[("authorization", &format!("Bearer {at}"))],
    )
    .await?;
    match reply.status {
        404 | 405 => return Ok(Mint::NotSupported),
        401 | 403 => return Ok(Mint::Unauthorized),
        200 => {}
        s => {
            let kind = if s >= 500 || s == 429 {
                ErrorKind::Transport
            } else {
                ErrorKind::Protocol
            };
            return Err(err(
                kind,
                format!(
                    "Nous Portal agent-key mint failed: HTTP {s} ({}).",
                    reply.excerpt()
                ),
            ));
        }
    }
    let m = reply.json().unwrap_or_default();
    let Some(key) = jstr(&m, "api_key").or(jstr(&m, "agent_key")) else {
        return Err(err(
            ErrorKind::Protocol,
            "Nous Portal agent-key mint response missing api_key.",
        ));
    };
    let exp = jsecs(&m, "expires_in")
        .map(|s| now + s)
        .or_else(|| jstr(&m, "expires_at").and_then(parse_iso))
        .unwrap_or(now + min_ttl as f64);
    state.insert("agent_key".into(), json!(key));
    state.insert(
        "agent_key_id".into(),
        m.get("key_id").cloned().unwrap_or(Value::Null),
    );
    state.insert(
        "agent_key_expires_at".into(),
        json!(iso_utc_micros(exp.floor())),
    );
    state.insert(
        "agent_key_expires_in".into(),
        json!((exp - now).max(0.0) as i64),
    );
    state.insert(
        "agent_key_reused".into(),
        json!(m.get("reused").and_then(Value::as_bool).unwrap_or(false)),
    );
    state.insert("agent_key_obtained_at".into(), json!(iso_utc_micros(now)));
    Ok(Mint::Minted)
}

/// What [`ensure`] must do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ensure {
    /// Refresh the access token even if it looks usable.
    pub force_refresh: bool,
    /// An inference request was rejected with 401: re-mint (agent-key) or refresh (invoke-JWT).
    pub after_401: bool,
    /// Probe the agent-key endpoint when the generation is unknown.
    pub probe: bool,
    pub min_ttl: u64,
}

/// Makes `state` hold a usable runtime credential. `persist` is called after every refresh,
/// before any further request, so a rotated refresh token is never only in memory.
async fn ensure(
    client: &reqwest::Client,
    portal: &str,
    state: &mut State,
    opts: Ensure,
    now: f64,
    persist: &mut (dyn FnMut(&State) -> Result<(), OAuthError> + Send),
) -> Result<(), OAuthError> {
    let mut model = jstr(state, MODEL_FIELD).map(str::to_string);
    let mut refreshed = false;
    if model.is_none() && !opts.probe {
        model = Some(MODEL_INVOKE_JWT.into());
    }
    if model.as_deref() != Some(MODEL_INVOKE_JWT) {
        // Two-stage (or unknown: probe the mint endpoint).
        let access_exp = jstr(state, "access_token")
            .and_then(crate::jwt::exp)
            .or_else(|| jstr(state, "expires_at").and_then(parse_iso));
        let access_expiring = access_exp.is_none_or(|e| e <= now + SKEW);
        if opts.force_refresh || (access_expiring && jstr(state, "refresh_token").is_some()) {
            refresh_state(client, portal, state, now).await?;
            persist(state)?;
            refreshed = true;
        }
        let need_mint = opts.after_401
            || model.is_none()
            || jstr(state, "agent_key").is_none()
            || jstr(state, "agent_key").is_some_and(|k| Some(k) == jstr(state, "access_token"))
            || expiring(jstr(state, "agent_key_expires_at"), now);
        if need_mint {
            let mut outcome = mint(client, portal, state, opts.min_ttl, now).await?;
            if matches!(outcome, Mint::Unauthorized) && !refreshed {
                refresh_state(client, portal, state, now).await?;
                persist(state)?;
                refreshed = true;
                outcome = mint(client, portal, state, opts.min_ttl, now).await?;
            }
            match outcome {
                Mint::Minted => {
                    state.insert(MODEL_FIELD.into(), json!(MODEL_AGENT_KEY));
                    return Ok(());
                }
                Mint::NotSupported => {
                    state.insert(MODEL_FIELD.into(), json!(MODEL_INVOKE_JWT));
                }
                // A portal that refuses to mint for a usable invoke JWT is an invoke-JWT portal.
                Mint::Unauthorized if state_unusable(state, now).is_none() => {
                    state.insert(MODEL_FIELD.into(), json!(MODEL_INVOKE_JWT));
                }
                Mint::Unauthorized => {
                    return Err(err(
                        ErrorKind::Terminal,
                        format!(
                            "Nous Portal rejected the access token while minting an agent key. Re-authenticate with: {RELOGIN}"
                        ),
                    )
                    .code("invalid_token")
                    .next(RELOGIN));
                }
            }
        } else {
            return Ok(());
        }
    }
    // Invoke-JWT model.
    let reason = state_unusable(state, now);
    if (opts.force_refresh || opts.after_401 || reason.is_some()) && !refreshed {
        if jstr(state, "refresh_token").is_none() {
            return Err(err(
                ErrorKind::Terminal,
                format!(
                    "Nous Portal access token is not a usable inference JWT ({}) and no refresh token is available. Re-authenticate with: {RELOGIN}",
                    reason.unwrap_or("force_refresh")
                ),
            )
            .code("invalid_token")
            .next(RELOGIN));
        }
        refresh_state(client, portal, state, now).await?;
        persist(state)?;
    }
    if let Some(reason) = state_unusable(state, now) {
        return Err(err(
            ErrorKind::Protocol,
            format!(
                "Nous Portal access token is not a usable inference JWT ({reason}). Re-authenticate with: {RELOGIN}"
            ),
        )
        .next(RELOGIN));
    }
    mirror_invoke(state, now);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// TLS and clients from stored state
// ---------------------------------------------------------------------------------------------

fn runtime_http(state: &State) -> HttpOptions {
    let timeout = env_nonempty(envvars::HERMES_NOUS_TIMEOUT_SECONDS)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(15.0);
    let tls = state.get("tls").and_then(Value::as_object);
    let insecure = tls
        .and_then(|t| t.get("insecure"))
        .is_some_and(|v| match v {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(s.to_lowercase().as_str(), "true" | "1" | "yes" | "on"),
            _ => false,
        });
    // A CA path that does not exist is ignored at runtime (default trust), as the reference does.
    let ca = tls
        .and_then(|t| jstr(t, "ca_bundle"))
        .map(str::to_string)
        .or_else(|| env_nonempty(envvars::HERMES_CA_BUNDLE))
        .or_else(|| env_nonempty("SSL_CERT_FILE"))
        .or_else(|| env_nonempty("REQUESTS_CA_BUNDLE"))
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    HttpOptions {
        insecure,
        ca_bundle: ca,
        ..HttpOptions::with_timeout(timeout)
    }
}

// ---------------------------------------------------------------------------------------------
// Persistence: providers.nous + pool row + shared store, in one locked write
// ---------------------------------------------------------------------------------------------

/// Writes `state` to `providers.nous` (optionally making nous active), re-seeds the pool row
/// from it, saves (atomic, fsync) and mirrors the shared store.
fn write_state(
    ctx: &PoolContext,
    lock: &StoreLock,
    store: &mut AuthStore,
    state: &State,
    activate: bool,
) -> Result<(), OAuthError> {
    if activate {
        store.save_provider_state(ID, state.clone());
    } else {
        store.set_provider_state_quiet(ID, state.clone());
    }
    reseed_pool(ctx, store);
    store.save(lock).map_err(store_err)?;
    write_shared(ctx, state);
    Ok(())
}

fn store_err(e: crate::store::StoreError) -> OAuthError {
    err(ErrorKind::Config, format!("Nous Portal: {e}"))
}

/// Re-runs the nous pool seeding on `store` so the `device_code` row matches `providers.nous`.
fn reseed_pool(ctx: &PoolContext, store: &mut AuthStore) {
    let mut entries: Vec<PoolEntry> = store
        .pool_entries(ID)
        .into_iter()
        .map(|m| PoolEntry::from_map(ID, m))
        .collect();
    let inputs = seed::SeedInputs {
        env: &ctx.env,
        config: &ctx.config,
        home: &ctx.home,
        user_home: ctx.user_home.as_ref(),
    };
    let _ = seed::seed_provider(&mut entries, ID, store, &inputs);
    entries.sort_by_key(|e| e.priority);
    store.set_pool_entries(
        ID,
        entries
            .iter()
            .map(|e| Value::Object(e.to_map(ID)))
            .collect(),
    );
}

/// The directory above profiles: `X` for `X/profiles/<name>`, `~/.hermes` for homes under it.
pub fn root_dir(home: &Home) -> PathBuf {
    let dir = home.dir();
    if let Some(parent) = dir.parent()
        && parent.file_name().is_some_and(|n| n == "profiles")
        && let Some(root) = parent.parent()
    {
        return root.to_path_buf();
    }
    if let Some(user) = crate::home::user_home() {
        let dot = user.join(".hermes");
        if dir.starts_with(&dot) {
            return dot;
        }
    }
    dir.to_path_buf()
}

/// `<HERMES_SHARED_AUTH_DIR or root/shared>/nous_auth.json`.
pub fn shared_path(home: &Home) -> PathBuf {
    env_nonempty(envvars::HERMES_SHARED_AUTH_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| root_dir(home).join("shared"))
        .join("nous_auth.json")
}

fn shared_lock(path: &Path) -> Option<std::fs::File> {
    let lp = path.with_extension("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lp)
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match f.try_lock() {
            Ok(()) => return Some(f),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(_) => return None,
        }
    }
}

/// Mirrors the login to the shared store (only when both tokens are set; failures are ignored,
/// as in the reference: the profile's auth.json is the source of truth).
fn write_shared(ctx: &PoolContext, state: &State) {
    let (Some(at), Some(rt)) = (jstr(state, "access_token"), jstr(state, "refresh_token")) else {
        return;
    };
    let path = shared_path(&ctx.home);
    let Some(dir) = path.parent() else { return };
    if atomic::ensure_private_dir(dir).is_err() {
        return;
    }
    let _guard = shared_lock(&path);
    let s = |k: &str, d: &str| json!(jstr(state, k).unwrap_or(d));
    let mut doc = std::collections::BTreeMap::new();
    doc.insert("_schema", json!(1));
    doc.insert("access_token", json!(at));
    doc.insert("refresh_token", json!(rt));
    doc.insert("client_id", s("client_id", CLIENT_ID));
    doc.insert(
        "expires_at",
        state.get("expires_at").cloned().unwrap_or(Value::Null),
    );
    doc.insert(
        "obtained_at",
        state.get("obtained_at").cloned().unwrap_or(Value::Null),
    );
    doc.insert(
        "inference_base_url",
        s("inference_base_url", DEFAULT_INFERENCE),
    );
    doc.insert("portal_base_url", s("portal_base_url", DEFAULT_PORTAL));
    doc.insert("scope", s("scope", DEFAULT_SCOPE));
    doc.insert("token_type", s("token_type", "Bearer"));
    doc.insert(
        "updated_at",
        json!(iso_utc_micros(crate::timefmt::now_epoch())),
    );
    if let Ok(bytes) = serde_json::to_vec_pretty(&doc) {
        let _ = atomic::write_atomic(&path, &bytes, 0o600);
    }
}

/// Reads the shared store when it is valid (an object with both tokens).
pub fn read_shared(home: &Home) -> Option<State> {
    let bytes = std::fs::read(shared_path(home)).ok()?;
    let Value::Object(m) = serde_json::from_slice(&bytes).ok()? else {
        return None;
    };
    (jstr(&m, "access_token").is_some() && jstr(&m, "refresh_token").is_some()).then_some(m)
}

/// Deletes the shared store (logout, terminal refresh failure). Returns whether it existed.
pub fn remove_shared(home: &Home) -> bool {
    let path = shared_path(home);
    let _guard = path.exists().then(|| shared_lock(&path));
    std::fs::remove_file(&path).is_ok()
}

/// Adopts the shared store's tokens into `state` when they are newer (another profile rotated).
fn merge_shared(home: &Home, state: &mut State) -> bool {
    let Some(shared) = read_shared(home) else {
        return false;
    };
    let newer = jstr(&shared, "refresh_token") != jstr(state, "refresh_token")
        && (jstr(state, "access_token").is_none()
            || jstr(&shared, "expires_at").and_then(parse_iso)
                > jstr(state, "expires_at").and_then(parse_iso));
    if !newer {
        return false;
    }
    for k in [
        "access_token",
        "refresh_token",
        "token_type",
        "scope",
        "client_id",
        "obtained_at",
        "expires_at",
    ] {
        if let Some(v) = shared.get(k).filter(|v| !v.is_null()) {
            state.insert(k.into(), v.clone());
        }
    }
    true
}

/// Terminal refresh failure: drop the dead tokens, keep routing metadata, record why, remove
/// the seeded pool rows and the shared store. No refresh is attempted again until a new login.
fn quarantine(
    ctx: &PoolContext,
    lock: &StoreLock,
    store: &mut AuthStore,
    state: &mut State,
    e: &OAuthError,
    reason: &str,
) {
    for k in TOKEN_FIELDS {
        state.shift_remove(*k);
    }
    state.insert(
        "last_auth_error".into(),
        json!({
            "provider": ID,
            "code": e.code.clone().unwrap_or_else(|| "invalid_grant".into()),
            "message": e.message,
            "reason": reason,
            "relogin_required": true,
            "at": iso_utc_micros(crate::timefmt::now_epoch()),
        }),
    );
    store.set_provider_state_quiet(ID, state.clone());
    let kept: Vec<Value> = store
        .pool_entries(ID)
        .into_iter()
        .filter(|m| {
            !matches!(
                m.get("source").and_then(Value::as_str),
                Some("device_code") | Some("manual:device_code")
            )
        })
        .map(|m| Value::Object(m.clone()))
        .collect();
    store.set_pool_entries(ID, kept);
    let _ = store.save(lock);
    remove_shared(&ctx.home);
}

// ---------------------------------------------------------------------------------------------
// Runtime resolution
// ---------------------------------------------------------------------------------------------

/// The credential an inference request uses.
#[derive(Debug, Clone)]
pub struct RuntimeCredential {
    pub api_key: crate::secret::Secret,
    pub base_url: String,
    pub expires_at: Option<String>,
    /// `agent_key` or `invoke_jwt`.
    pub model: String,
}

fn credential(state: &State) -> RuntimeCredential {
    RuntimeCredential {
        api_key: crate::secret::Secret::new(jstr(state, "agent_key").unwrap_or_default()),
        base_url: runtime_inference(state),
        expires_at: jstr(state, "agent_key_expires_at")
            .or(jstr(state, "expires_at"))
            .map(str::to_string),
        model: jstr(state, MODEL_FIELD)
            .unwrap_or(MODEL_INVOKE_JWT)
            .to_string(),
    }
}

/// Options of [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct Resolve {
    pub force_refresh: bool,
    /// Set after an inference 401, with the key that was rejected: when the stored key already
    /// differs (another process replaced it) it is adopted without a network call.
    pub rejected_key: Option<String>,
    /// `last_auth_error.reason` written on a terminal failure.
    pub reason: &'static str,
}

fn without_countdowns(s: &State) -> State {
    let mut c = s.clone();
    c.shift_remove("expires_in");
    c.shift_remove("agent_key_expires_in");
    c
}

/// Resolves the runtime credential under the store lock: re-reads `providers.nous`, refreshes
/// or mints only when needed, persists rotated tokens at once, quarantines a dead login.
pub fn resolve(ctx: &PoolContext, opts: &Resolve) -> Result<RuntimeCredential, OAuthError> {
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let mut store = AuthStore::load_locked(&lock).map_err(store_err)?;
    let Some(mut state) = store.provider_state(ID).cloned() else {
        return Err(err(
            ErrorKind::NotLoggedIn,
            "Hermes is not logged into Nous Portal.",
        )
        .next(RELOGIN));
    };
    let now = ctx.now();
    let original = state.clone();
    if jstr(&state, "access_token").is_none() {
        if state.contains_key("last_auth_error") {
            // Quarantined: no refresh until the next login.
            let msg = state["last_auth_error"]
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("Nous Portal login needs to be renewed.")
                .to_string();
            return Err(err(ErrorKind::NotLoggedIn, msg).next(RELOGIN));
        }
        merge_shared(&ctx.home, &mut state);
        if jstr(&state, "access_token").is_none() {
            return Err(err(
                ErrorKind::NotLoggedIn,
                "No access token found for Nous Portal login.",
            )
            .next(RELOGIN));
        }
    }
    if let Some(rejected) = &opts.rejected_key
        && jstr(&state, "agent_key").is_some_and(|k| k != rejected)
        && jstr(&state, "agent_key_expires_at").is_some_and(|e| !expiring(Some(e), now))
    {
        return Ok(credential(&state));
    }
    let portal = effective_portal(&state);
    // A reference-written home (agent_key mirrors the access token) is the 0.19 model: no probe.
    let probe = jstr(&state, MODEL_FIELD).is_none()
        && jstr(&state, "agent_key") != jstr(&state, "access_token");
    let ensure_opts = Ensure {
        force_refresh: opts.force_refresh,
        after_401: opts.rejected_key.is_some(),
        probe,
        min_ttl: state
            .get("min_key_ttl_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MIN_KEY_TTL),
    };
    let client = http::client(DISPLAY, &runtime_http(&state))?;
    let result = {
        let lock_ref = &lock;
        let store_ref = &mut store;
        let mut persist = |s: &State| -> Result<(), OAuthError> {
            let mut s = s.clone();
            s.insert("portal_base_url".into(), json!(portal.clone()));
            write_state(ctx, lock_ref, store_ref, &s, false)
        };
        super::block_on(ensure(
            &client,
            &portal,
            &mut state,
            ensure_opts,
            now,
            &mut persist,
        ))
    };
    match result {
        Ok(()) => {
            state.insert("portal_base_url".into(), json!(portal));
            let healed = healed_inference(&state);
            state.insert("inference_base_url".into(), json!(healed));
            if without_countdowns(&state) != without_countdowns(&original) {
                write_state(ctx, &lock, &mut store, &state, false)?;
            }
            Ok(credential(&state))
        }
        Err(e) if e.is_terminal() => {
            quarantine(ctx, &lock, &mut store, &mut state, &e, opts.reason);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// After an inference 401 with `rejected_key`: one forced re-mint (agent-key portals) or
/// refresh (invoke-JWT portals), single-flight; the proxy retries the request once with the
/// returned credential.
pub fn recover_after_401(
    ctx: &PoolContext,
    rejected_key: &str,
) -> Result<RuntimeCredential, OAuthError> {
    resolve(
        ctx,
        &Resolve {
            rejected_key: Some(rejected_key.to_string()),
            reason: "proxy_refresh_failure",
            ..Resolve::default()
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

/// What `auth status nous` reports.
#[derive(Debug, Clone)]
pub struct NousStatus {
    pub logged_in: bool,
    pub error: Option<String>,
    /// A transient refresh failure while logged in (login kept).
    pub warning: Option<String>,
    pub details: Vec<(String, String)>,
}

impl NousStatus {
    pub fn ok(details: Vec<(String, String)>, warning: Option<String>) -> Self {
        Self {
            logged_in: true,
            error: None,
            warning,
            details,
        }
    }
    pub fn out(error: Option<String>) -> Self {
        Self {
            logged_in: false,
            error,
            warning: None,
            details: vec![],
        }
    }
}

/// Status: resolves the credential (refreshing only when the token is unusable); an unreachable
/// portal keeps the login and reports why the refresh failed.
pub fn status(ctx: &PoolContext) -> Result<NousStatus, crate::pool::PoolError> {
    let store = AuthStore::load(&ctx.home)?;
    let Some(_) = store.provider_state(ID) else {
        return Ok(NousStatus {
            logged_in: false,
            error: None,
            warning: None,
            details: vec![],
        });
    };
    let r = resolve(
        ctx,
        &Resolve {
            reason: "runtime_access_refresh_failure",
            ..Resolve::default()
        },
    );
    let fresh = AuthStore::load(&ctx.home)?;
    let state = fresh.provider_state(ID).cloned().unwrap_or_default();
    let details = |state: &State| {
        let mut d = vec![("auth_type".to_string(), "oauth_device_code".to_string())];
        for k in ["client_id", "scope"] {
            if let Some(v) = jstr(state, k) {
                d.push((k.into(), v.into()));
            }
        }
        if let Some(v) = jstr(state, "expires_at") {
            d.push(("expires_at".into(), v.into()));
        }
        d.push(("api_base_url".into(), runtime_inference(state)));
        d
    };
    Ok(match r {
        Ok(_) => NousStatus {
            logged_in: true,
            error: None,
            warning: None,
            details: details(&state),
        },
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::Transport | ErrorKind::Protocol | ErrorKind::Config
            ) && jstr(&state, "access_token").is_some() =>
        {
            NousStatus {
                logged_in: true,
                error: None,
                warning: Some(format!("token refresh failed, login kept: {}", e.message)),
                details: details(&state),
            }
        }
        Err(e) => NousStatus {
            logged_in: false,
            error: Some(e.message),
            warning: None,
            details: vec![],
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------------

/// `hermes auth add nous` settings.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub label: Option<String>,
    pub portal_url: Option<String>,
    pub inference_url: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub no_browser: bool,
    pub timeout: Option<f64>,
    pub insecure: bool,
    pub ca_bundle: Option<PathBuf>,
    pub min_key_ttl: Option<u64>,
    /// Rehydrate from the shared store (the caller asked the user) before any device login.
    pub import_shared: bool,
}

/// What a login did.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The pool entry's label.
    pub label: String,
    /// Imported from the shared store rather than a device login.
    pub imported: bool,
}

fn label_after_write(store: &AuthStore) -> String {
    store
        .pool_entries(ID)
        .into_iter()
        .find(|m| m.get("source").and_then(Value::as_str) == Some("device_code"))
        .and_then(|m| m.get("label").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "device_code".into())
}

/// Shared-store import: one forced refresh against the shared `portal_base_url`, the rotated
/// tokens written back to the shared store at once, then persisted like a login.
fn import_shared(ctx: &PoolContext, s: &LoginSettings) -> Result<String, OAuthError> {
    let shared = read_shared(&ctx.home)
        .ok_or_else(|| err(ErrorKind::NotLoggedIn, "no valid shared Nous credentials"))?;
    let mut state = Map::new();
    for (k, d) in [
        ("access_token", None),
        ("refresh_token", None),
        ("client_id", Some(CLIENT_ID)),
        ("portal_base_url", Some(DEFAULT_PORTAL)),
        ("inference_base_url", Some(DEFAULT_INFERENCE)),
        ("token_type", Some("Bearer")),
        ("scope", Some(DEFAULT_SCOPE)),
        ("obtained_at", None),
        ("expires_at", None),
    ] {
        let v = jstr(&shared, k).or(d);
        state.insert(k.into(), v.map_or(Value::Null, |v| json!(v)));
    }
    state.insert("tls".into(), json!({"insecure": false, "ca_bundle": null}));
    let portal = jstr(&state, "portal_base_url")
        .unwrap_or(DEFAULT_PORTAL)
        .trim_end_matches('/')
        .to_string();
    let client = http::client(
        DISPLAY,
        &HttpOptions::with_timeout(s.timeout.unwrap_or(15.0)),
    )?;
    let now = ctx.now();
    let min_ttl = s.min_key_ttl.unwrap_or(DEFAULT_MIN_KEY_TTL);
    let result = super::block_on(async {
        refresh_state(&client, &portal, &mut state, now).await?;
        write_shared(ctx, &state);
        let mut persist = |st: &State| {
            write_shared(ctx, st);
            Ok(())
        };
        ensure(
            &client,
            &portal,
            &mut state,
            Ensure {
                probe: true,
                min_ttl,
                ..Ensure::default()
            },
            now,
            &mut persist,
        )
        .await
    });
    if let Err(e) = result {
        if e.is_terminal() {
            remove_shared(&ctx.home);
        }
        return Err(e);
    }
    if let Some(l) = &s.label {
        state.insert("label".into(), json!(l));
    }
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let mut store = AuthStore::load_locked(&lock).map_err(store_err)?;
    write_state(ctx, &lock, &mut store, &state, true)?;
    Ok(label_after_write(&store))
}

/// Runs the login (shared-store import when asked, else the device flow) and persists it.
pub fn login(ctx: &PoolContext, s: &LoginSettings) -> Result<LoginOutcome, OAuthError> {
    crate::pool::manage::unsuppress_for_add(ctx, ID)
        .map_err(|e| err(ErrorKind::Config, format!("Nous Portal: {e}")))?;
    if s.import_shared {
        say("Rehydrating Nous session from shared credentials...");
        match import_shared(ctx, s) {
            Ok(label) => {
                return Ok(LoginOutcome {
                    label,
                    imported: true,
                });
            }
            Err(_) => {
                say("Could not refresh shared credentials — falling back to device-code login.")
            }
        }
    }
    let portal = s
        .portal_url
        .clone()
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .or_else(env_portal)
        .unwrap_or_else(|| DEFAULT_PORTAL.to_string());
    let requested_inference = s
        .inference_url
        .clone()
        .or_else(|| env_nonempty(envvars::NOUS_INFERENCE_BASE_URL))
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_INFERENCE.to_string());
    let client_id = s.client_id.clone().unwrap_or_else(|| CLIENT_ID.into());
    let scope = s.scope.clone().unwrap_or_else(|| DEFAULT_SCOPE.into());
    let opts = HttpOptions {
        insecure: s.insecure,
        ca_bundle: if s.insecure {
            None
        } else {
            s.ca_bundle.clone()
        },
        ..HttpOptions::with_timeout(s.timeout.unwrap_or(15.0))
    };
    if url::Url::parse(&portal).is_err() {
        return Err(err(
            ErrorKind::Config,
            format!("Nous Portal login failed: invalid portal URL {portal:?}."),
        ));
    }
    let client = http::client(DISPLAY, &opts)?;
    say("Starting Hermes login via Nous Portal...");
    say(format!("Portal: {portal}"));
    if s.insecure {
        say("TLS verification: disabled (--insecure)");
    } else if let Some(ca) = &s.ca_bundle {
        say(format!(
            "TLS verification: custom CA bundle ({})",
            ca.display()
        ));
    }
    let policy = BrowserPolicy {
        no_browser: s.no_browser,
        needs_graphical: false,
    };
    let min_ttl = s.min_key_ttl.unwrap_or(DEFAULT_MIN_KEY_TTL);
    let mut state = super::block_on(async {
        let mut form = vec![("client_id", client_id.as_str())];
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        let reply = http::post_form(
            DISPLAY,
            "Nous Portal device-code request",
            &client,
            &format!("{portal}/api/oauth/device/code"),
            &form,
            &[],
        )
        .await
        .map_err(|e| e.next(RELOGIN))?;
        if !reply.ok() {
            return Err(err(
                ErrorKind::Protocol,
                format!(
                    "Nous Portal login failed: the device-code request returned HTTP {} ({}).",
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
                    "Nous Portal login failed: Device code response missing fields: {}",
                    missing.join(", ")
                ),
            )
            .next(RELOGIN));
        }
        let user_code = jstr(&dc, "user_code").unwrap_or_default().to_string();
        let open_url = jstr(&dc, "verification_uri_complete")
            .or(jstr(&dc, "verification_uri"))
            .unwrap_or_default()
            .to_string();
        let interval = device::interval_from(&dc);
        say("");
        say("To continue:");
        say(format!("  1. Open: {open_url}"));
        say(format!("  2. If prompted, enter code: {user_code}"));
        super::maybe_open(policy, &open_url, "—");
        say(format!(
            "Waiting for approval (polling every {}s)...",
            interval.as_secs()
        ));
        let poll = device::Poll {
            provider: DISPLAY,
            restart: RELOGIN,
            token_url: &format!("{portal}/api/oauth/token"),
            form: vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:device_code".into(),
                ),
                ("client_id", client_id.clone()),
                (
                    "device_code",
                    jstr(&dc, "device_code").unwrap_or_default().into(),
                ),
            ],
            headers: vec![],
            interval,
            expires_in: Duration::from_secs_f64(jsecs(&dc, "expires_in").unwrap_or(900.0).max(1.0)),
            poll_immediately: true,
        };
        let tok = device::poll(&client, &poll, &|i| {
            say(format!(
                "Server asked to slow down; polling every {}s.",
                i.as_secs()
            ))
        })
        .await?;
        let now = ctx.now();
        let ttl = jsecs(&tok, "expires_in").unwrap_or(0.0).max(0.0);
        let inference = jstr(&tok, "inference_base_url")
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| requested_inference.clone());
        if inference != requested_inference {
            say(format!("Using portal-provided inference URL: {inference}"));
        }
        let mut state = Map::new();
        state.insert("access_token".into(), json!(jstr(&tok, "access_token")));
        state.insert(
            "refresh_token".into(),
            tok.get("refresh_token").cloned().unwrap_or(Value::Null),
        );
        state.insert("client_id".into(), json!(client_id));
        state.insert("portal_base_url".into(), json!(portal));
        state.insert("inference_base_url".into(), json!(inference));
        state.insert(
            "token_type".into(),
            json!(jstr(&tok, "token_type").unwrap_or("Bearer")),
        );
        state.insert("scope".into(), json!(jstr(&tok, "scope").unwrap_or(&scope)));
        state.insert("obtained_at".into(), json!(iso_utc_micros(now)));
        state.insert(
            "expires_at".into(),
            json!(iso_utc_micros((now + ttl).floor())),
        );
        state.insert("agent_key".into(), Value::Null);
        state.insert("agent_key_expires_at".into(), Value::Null);
        state.insert(
            "tls".into(),
            json!({"insecure": s.insecure, "ca_bundle": s.ca_bundle.as_ref().map(|p| p.display().to_string())}),
        );
        state.insert("expires_in".into(), json!(ttl as i64));
        if min_ttl != DEFAULT_MIN_KEY_TTL {
            state.insert("min_key_ttl_seconds".into(), json!(min_ttl));
        }
        // Post-login: pick the portal generation and make the credential usable.
        let mut persist = |_: &State| Ok(());
        ensure(
            &client,
            &portal,
            &mut state,
            Ensure {
                probe: true,
                min_ttl,
                ..Ensure::default()
            },
            now,
            &mut persist,
        )
        .await?;
        Ok::<State, OAuthError>(state)
    })?;
    if let Some(l) = &s.label {
        state.insert("label".into(), json!(l));
    }
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let mut store = AuthStore::load_locked(&lock).map_err(store_err)?;
    write_state(ctx, &lock, &mut store, &state, true)?;
    Ok(LoginOutcome {
        label: label_after_write(&store),
        imported: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: Value) -> String {
        crate::jwt::make_unsigned(&claims)
    }

    #[test]
    fn invoke_rule() {
        let now = 1_000_000.0;
        let ok = jwt(json!({"scope": "inference:invoke", "exp": now + 600.0}));
        assert_eq!(invoke_unusable(&ok, None, None, now), None);
        let soon = jwt(json!({"scope": "inference:invoke", "exp": now + 60.0}));
        assert_eq!(
            invoke_unusable(&soon, None, None, now),
            Some("invoke_jwt_expiring")
        );
        let noscope = jwt(json!({"exp": now + 600.0}));
        assert_eq!(
            invoke_unusable(&noscope, Some("inference:invoke"), None, now),
            None
        );
        assert_eq!(
            invoke_unusable(&noscope, None, None, now),
            Some("missing_inference_invoke_scope")
        );
        assert_eq!(
            invoke_unusable("opaque", None, None, now),
            Some("access_token_not_jwt")
        );
    }

    #[test]
    fn portal_allowlist() {
        assert!(portal_allowed("https://portal.nousresearch.com"));
        assert!(!portal_allowed("http://portal.nousresearch.com"));
        assert!(portal_allowed("http://127.0.0.1:9"));
        assert!(!portal_allowed("https://evil.example.com"));
        assert!(inference_allowed(
            "https://inference-api.nousresearch.com/v1"
        ));
        assert!(!inference_allowed("https://evil.example.com/v1"));
    }

    #[test]
    fn reuse_maps_to_relogin_message() {
        let r = Reply {
            status: 400,
            body: r#"{"error":"invalid_grant","error_description":"refresh token reuse detected"}"#
                .into(),
            retry_after: None,
        };
        let e = refresh_error(&r);
        assert!(e.is_terminal());
        assert!(
            e.message
                .starts_with("Nous Portal detected refresh-token reuse")
        );
        assert!(
            e.message
                .ends_with("Re-authenticate with: hermes auth add nous")
        );
        let r = Reply {
            status: 400,
            body: r#"{"error":"invalid_grant","error_description":"expired"}"#.into(),
            retry_after: None,
        };
        let e = refresh_error(&r);
        assert!(e.is_terminal());
        assert!(e.message.contains("hermes auth add nous"));
        let r = Reply {
            status: 503,
            body: "down".into(),
            retry_after: None,
        };
        assert!(!refresh_error(&r).is_terminal());
    }

    #[test]
    fn profile_root() {
        assert_eq!(root_dir(&Home::at("/x/profiles/work")), PathBuf::from("/x"));
        assert_eq!(root_dir(&Home::at("/tmp/h")), PathBuf::from("/tmp/h"));
    }
}
