//! Qwen OAuth (spec oauth-flows §7): import only. The tokens live in the Qwen CLI's file
//! `~/.qwen/oauth_creds.json`; Hermes refreshes them in place (under its store lock, so two
//! Hermes processes never spend the same refresh token) and mirrors the access token into
//! its `manual:qwen_cli` pool entry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::pkce::{self, Body, FlowError, str_field};
use crate::envvars;
use crate::pool::{PoolContext, PoolEntry, PoolError};
use crate::store::{AuthStore, StoreLock};

pub const ID: &str = "qwen-oauth";
pub const CLIENT_ID: &str = "f0304373b74a44d2b584a3fb70ca9e56";
pub const TOKEN_URL: &str = "https://chat.qwen.ai/api/v1/oauth2/token";
pub const BASE_URL: &str = "https://portal.qwen.ai/v1";
pub const SOURCE: &str = "manual:qwen_cli";
pub const REFRESH_SKEW_SECS: f64 = 120.0;
/// Error code of a refresh that never reached the server (the login is kept).
pub const TRANSPORT: &str = "qwen_refresh_unreachable";

pub fn token_url() -> String {
    super::env_nonempty(envvars::HERMES_QWEN_OAUTH_TOKEN_URL).unwrap_or_else(|| TOKEN_URL.into())
}

/// Inference base URL (`resource_url` in the file is ignored, as in the reference).
pub fn base_url() -> String {
    super::env_nonempty(envvars::HERMES_QWEN_BASE_URL).unwrap_or_else(|| BASE_URL.into())
}

/// `~/.qwen/oauth_creds.json`.
pub fn creds_path(ctx: &PoolContext) -> Option<PathBuf> {
    ctx.user_home
        .as_ref()
        .map(|h| h.join(".qwen").join("oauth_creds.json"))
}

/// Reads the Qwen CLI file; errors carry the reference's messages.
pub fn read_creds(path: &Path) -> Result<Map<String, Value>, FlowError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(FlowError::new(
                "Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first.",
            )
            .code("qwen_auth_missing"));
        }
        Err(e) => {
            return Err(FlowError::new(format!(
                "Failed to read Qwen CLI credentials from {}: {e}",
                path.display()
            )));
        }
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        FlowError::new(format!(
            "Failed to read Qwen CLI credentials from {}: invalid JSON at line {}",
            path.display(),
            e.line()
        ))
    })?;
    let Value::Object(m) = v else {
        return Err(FlowError::new(format!(
            "Invalid Qwen CLI credentials in {}.",
            path.display()
        )));
    };
    if str_field(&m, "access_token").is_none() {
        return Err(FlowError::new(
            "Qwen OAuth access token missing. Re-run 'qwen auth qwen-oauth'.",
        )
        .code("qwen_access_token_missing"));
    }
    Ok(m)
}

/// `(now + 120 s) * 1000 >= expiry_date`; a missing or non-integer expiry counts as expiring.
pub fn creds_expiring(m: &Map<String, Value>, now: f64) -> bool {
    match m.get("expiry_date").and_then(Value::as_i64) {
        Some(ms) => (now + REFRESH_SKEW_SECS) * 1000.0 >= ms as f64,
        None => true,
    }
}

fn write_creds(path: &Path, m: &Map<String, Value>) -> Result<(), FlowError> {
    // Exactly the five keys the Qwen CLI writes, sorted, 2-space indent, trailing newline.
    let mut out = Map::new();
    for k in [
        "access_token",
        "expiry_date",
        "refresh_token",
        "resource_url",
        "token_type",
    ] {
        out.insert(k.into(), m.get(k).cloned().unwrap_or(Value::Null));
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(out)).expect("serializable");
    bytes.push(b'\n');
    if let Some(dir) = path.parent() {
        crate::store::atomic::ensure_private_dir(dir).map_err(|e| FlowError::new(e.to_string()))?;
    }
    crate::store::atomic::write_atomic(path, &bytes, 0o600)
        .map_err(|e| FlowError::new(e.to_string()))
}

/// Reads the file and, when it is expiring (or `force` and nobody refreshed it since the
/// caller saw `seen_access`), refreshes it, single-flight under the store lock. Returns the
/// credentials now on disk.
pub fn refresh_creds(
    ctx: &PoolContext,
    seen_access: Option<&str>,
    force: bool,
) -> Result<Map<String, Value>, FlowError> {
    let Some(path) = creds_path(ctx) else {
        return Err(FlowError::new(
            "Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first.",
        ));
    };
    let lock = StoreLock::acquire(&ctx.home).map_err(|e| FlowError::new(e.to_string()))?;
    let now = ctx.now();
    let mut m = read_creds(&path)?;
    let at = str_field(&m, "access_token").unwrap_or("").to_string();
    let newer = seen_access.is_some_and(|s| s != at);
    if !creds_expiring(&m, now) && (newer || !force) {
        drop(lock);
        return Ok(m);
    }
    let Some(rt) = str_field(&m, "refresh_token").map(str::to_string) else {
        return Err(FlowError::new(
            "Qwen OAuth refresh token missing. Re-run 'qwen auth qwen-oauth'.",
        ));
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", CLIENT_ID),
    ];
    let rep = pkce::send(
        "POST",
        &token_url(),
        Body::Form(&form),
        &[("Accept", "application/json")],
        Duration::from_secs(20),
    )
    .map_err(|e| FlowError::new(format!("Qwen OAuth refresh failed: {e}")).code(TRANSPORT))?;
    if rep.status >= 400 {
        return Err(FlowError::new(format!(
            "Qwen OAuth refresh failed. Re-run 'qwen auth qwen-oauth'. Response: {}",
            rep.excerpt()
        ))
        .code("qwen_refresh_rejected"));
    }
    let Some(j) = rep.json() else {
        return Err(FlowError::new(format!(
            "Qwen OAuth refresh returned invalid JSON: {}",
            rep.excerpt()
        )));
    };
    let Some(new_at) = str_field(&j, "access_token") else {
        return Err(FlowError::new(
            "Qwen OAuth refresh response missing access_token.",
        ));
    };
    m.insert("access_token".into(), json!(new_at));
    m.insert(
        "refresh_token".into(),
        json!(str_field(&j, "refresh_token").unwrap_or(&rt)),
    );
    m.insert(
        "token_type".into(),
        json!(
            str_field(&j, "token_type")
                .or(str_field(&m, "token_type"))
                .unwrap_or("Bearer")
        ),
    );
    if let Some(r) = str_field(&j, "resource_url") {
        m.insert("resource_url".into(), json!(r));
    }
    m.insert(
        "expiry_date".into(),
        json!(pkce::now_ms(now) + pkce::expires_in(&j, 21600) * 1000),
    );
    write_creds(&path, &m)?;
    // Keep the pool's snapshot in step while we still hold the lock.
    if let Ok(mut store) = AuthStore::load_locked(&lock) {
        let mut changed = false;
        for raw in store
            .pool_entries(ID)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
        {
            let mut e = PoolEntry::from_map(ID, &raw);
            if e.source != SOURCE {
                continue;
            }
            e.access_token = Some(new_at.to_string());
            e.expires_at_ms = m.get("expiry_date").and_then(Value::as_i64);
            e.clear_status();
            pkce::put_pool_entry(&mut store, ID, &e);
            changed = true;
        }
        if changed {
            store
                .save(&lock)
                .map_err(|e| FlowError::new(e.to_string()))?;
        }
    }
    Ok(m)
}

/// What `auth add qwen-oauth` stores.
#[derive(Clone)]
pub struct Imported {
    pub access_token: String,
    pub expires_at_ms: Option<i64>,
    pub base_url: String,
}

/// Reads the file without refreshing and records `providers.qwen-oauth = {base_url}` as the
/// active provider (as the reference does).
pub fn import(ctx: &PoolContext) -> Result<Imported, FlowError> {
    let path = creds_path(ctx).ok_or_else(|| {
        FlowError::new("Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first.")
    })?;
    let m = read_creds(&path)?;
    let base = base_url();
    let store_err = |e: crate::store::StoreError| FlowError::new(e.to_string());
    let lock = StoreLock::acquire(&ctx.home).map_err(store_err)?;
    let mut store = AuthStore::load_locked(&lock).map_err(store_err)?;
    let mut state = store.provider_state(ID).cloned().unwrap_or_default();
    state.insert("base_url".into(), json!(base));
    store.save_provider_state(ID, state);
    store.save(&lock).map_err(store_err)?;
    Ok(Imported {
        access_token: str_field(&m, "access_token").unwrap_or("").to_string(),
        expires_at_ms: m.get("expiry_date").and_then(Value::as_i64),
        base_url: base,
    })
}

/// Pool rule: Qwen entries whose `expires_at_ms` is within 120 s.
pub fn needs_refresh(entry: &PoolEntry, now: f64) -> bool {
    entry.auth_type == crate::pool::entry::AUTH_OAUTH
        && entry
            .expires_at_ms
            .is_some_and(|ms| (ms as f64) <= (now + REFRESH_SKEW_SECS) * 1000.0)
}

/// `TokenRefresher` arm: refreshes the Qwen CLI file and returns the entry with its token.
pub fn refresh(
    ctx: &PoolContext,
    _pool_key: &str,
    entry: &PoolEntry,
) -> Result<PoolEntry, PoolError> {
    let m = refresh_creds(ctx, entry.access_token.as_deref(), true).map_err(|e| {
        PoolError::Refresh {
            label: entry.label.clone(),
            message: e.message,
        }
    })?;
    let store = AuthStore::load(&ctx.home)?;
    let mut e = pkce::stored_pool_entry(&store, ID, &entry.id).unwrap_or_else(|| entry.clone());
    e.access_token = str_field(&m, "access_token").map(str::to_string);
    e.expires_at_ms = m.get("expiry_date").and_then(Value::as_i64);
    Ok(e)
}
