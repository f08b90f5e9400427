//! The pool's [`TokenRefresher`]: one `match` on the pool key, and a single-flight helper that
//! every row-based refresh (Codex, xAI, MiniMax, …) runs through.
//!
//! Single-flight across processes: the whole read → POST → write runs under the store lock.
//! Inside it the row is re-read from disk; if another process already rotated the tokens (the
//! stored refresh token differs from the one we were handed) and the stored access token is not
//! itself expiring, it is adopted without a network call. A rotated refresh token is saved
//! (atomic write + fsync) before anything else happens.
//!
//! To add a provider: an arm in [`OAuthRefresher::needs_refresh`] and one in
//! [`OAuthRefresher::refresh`] calling `<provider>::refresh_entry(ctx, entry)`.

use serde_json::{Value, json};

use super::{OAuthError, codex, minimax, nous, xai};
use crate::pool::entry::{AUTH_OAUTH, PoolEntry};
use crate::pool::{ErrorContext, PoolContext, PoolError, TokenRefresher, cooldown};
use crate::store::{AuthStore, StoreLock};

/// The refresher the CLI and the proxy plug into [`PoolContext`].
#[derive(Debug, Default, Clone, Copy)]
pub struct OAuthRefresher;

impl TokenRefresher for OAuthRefresher {
    fn needs_refresh(&self, pool_key: &str, entry: &PoolEntry, now: f64) -> bool {
        if entry.auth_type != AUTH_OAUTH || entry.refresh_token.as_deref().is_none_or(str::is_empty)
        {
            return false;
        }
        match pool_key {
            "nous" => entry.runtime_api_key(pool_key, now).is_empty(),
            "openai-codex" => codex::needs_refresh(entry, now),
            "xai-oauth" => xai::needs_refresh(entry, now),
            "minimax-oauth" => minimax::needs_refresh(entry, now),
            "anthropic" => super::anthropic::needs_refresh(entry, now),
            "google-gemini-cli" => super::gemini::needs_refresh(entry, now),
            "qwen-oauth" => super::qwen::needs_refresh(entry, now),
            _ => false,
        }
    }

    fn refresh(
        &self,
        ctx: &PoolContext,
        pool_key: &str,
        entry: &PoolEntry,
    ) -> Result<PoolEntry, PoolError> {
        // The PKCE providers report pool errors themselves.
        match pool_key {
            "anthropic" => return super::anthropic::refresh(ctx, pool_key, entry),
            "google-gemini-cli" => return super::gemini::refresh(ctx, pool_key, entry),
            "qwen-oauth" => return super::qwen::refresh(ctx, pool_key, entry),
            _ => {}
        }
        let r = match pool_key {
            "nous" => refresh_nous(ctx, entry),
            "openai-codex" => codex::refresh_entry(ctx, entry),
            "xai-oauth" => xai::refresh_entry(ctx, entry),
            "minimax-oauth" => minimax::refresh_entry(ctx, entry),
            _ => Err(OAuthError::new(
                pool_key,
                super::ErrorKind::Config,
                format!("{pool_key} credentials cannot be refreshed by hermes"),
            )),
        };
        r.map_err(|e| PoolError::Refresh {
            label: entry.label.clone(),
            message: e.message,
        })
    }
}

/// Nous rows are seeded from `providers.nous`: refresh/mint the singleton, then read the row back.
fn refresh_nous(ctx: &PoolContext, entry: &PoolEntry) -> Result<PoolEntry, OAuthError> {
    let now = ctx.now();
    let key = entry.runtime_api_key("nous", now);
    let opts = nous::Resolve {
        rejected_key: (!key.is_empty()).then_some(key),
        reason: "credential_pool_refresh_failure",
        ..nous::Resolve::default()
    };
    nous::resolve(ctx, &opts)?;
    let store = AuthStore::load(&ctx.home)
        .map_err(|e| OAuthError::new("nous", super::ErrorKind::Config, e.to_string()))?;
    store
        .pool_entries("nous")
        .into_iter()
        .map(|m| PoolEntry::from_map("nous", m))
        .find(|e| e.id == entry.id || e.source == entry.source)
        .ok_or_else(|| {
            OAuthError::new(
                "nous",
                super::ErrorKind::NotLoggedIn,
                "Nous Portal credential is gone from the pool.",
            )
        })
}

/// New tokens from one refresh.
#[derive(Debug, Clone, Default)]
pub struct Rotated {
    pub access_token: String,
    /// `None` keeps the old refresh token.
    pub refresh_token: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub expires_at: Option<String>,
}

/// How a provider plugs into [`single_flight`].
pub struct RowRefresh<'a> {
    pub pool_key: &'a str,
    /// Whether a (re-read) row still needs refreshing.
    pub needs: &'a dyn Fn(&PoolEntry, f64) -> bool,
    /// The network exchange for the row as stored.
    pub exchange: &'a dyn Fn(&PoolEntry) -> Result<Rotated, OAuthError>,
    /// Writes the rotated tokens into the provider's singleton state (`providers.<id>`) when the
    /// row shares its grant; called with the store under the lock, with the row before and after.
    pub write_singleton: &'a dyn Fn(&mut AuthStore, &PoolEntry, &PoolEntry),
    /// Quarantine on a terminal error: clears the singleton's tokens (called under the lock).
    pub quarantine_singleton: &'a dyn Fn(&mut AuthStore, &PoolEntry, &OAuthError),
}

fn stored_row(store: &AuthStore, key: &str, entry: &PoolEntry) -> Option<PoolEntry> {
    let rows: Vec<PoolEntry> = store
        .pool_entries(key)
        .into_iter()
        .map(|m| PoolEntry::from_map(key, m))
        .collect();
    rows.iter()
        .find(|r| r.id == entry.id)
        .or_else(|| {
            rows.iter()
                .find(|r| r.source == entry.source && !r.is_manual())
        })
        .cloned()
}

fn put_row(store: &mut AuthStore, key: &str, row: &PoolEntry) {
    let rows: Vec<Value> = store
        .pool_entries(key)
        .into_iter()
        .map(|m| {
            if m.get("id").and_then(Value::as_str) == Some(row.id.as_str()) {
                Value::Object(row.to_map(key))
            } else {
                Value::Object(m.clone())
            }
        })
        .collect();
    store.set_pool_entries(key, rows);
}

/// The terminal error of a row that has no refresh token: only a new login helps.
pub struct MissingRefresh<'a> {
    /// Display name of the provider (the error's provider).
    pub provider: &'a str,
    pub message: &'a str,
    pub code: Option<&'a str>,
    /// The login command to run next.
    pub relogin: &'a str,
}

/// The row's refresh token, or `missing` as a terminal relogin error.
pub fn row_refresh_token<'r>(
    row: &'r PoolEntry,
    missing: &MissingRefresh<'_>,
) -> Result<&'r str, OAuthError> {
    row.refresh_token
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            let e = OAuthError::new(
                missing.provider,
                super::ErrorKind::Terminal,
                missing.message,
            )
            .next(missing.relogin);
            match missing.code {
                Some(c) => e.code(c),
                None => e,
            }
        })
}

/// Single-flight refresh of a row of a provider whose singleton (`providers.<pool_key>`) keeps a
/// `tokens` object (Codex, xAI): the row's refresh token goes to `exchange`; the rotated tokens
/// (or a quarantine) also reach the singleton when the row shares its grant.
pub fn refresh_tokens_row(
    ctx: &PoolContext,
    entry: &PoolEntry,
    pool_key: &str,
    needs: &dyn Fn(&PoolEntry, f64) -> bool,
    missing: &MissingRefresh<'_>,
    exchange: &dyn Fn(&str) -> Result<Rotated, OAuthError>,
) -> Result<PoolEntry, OAuthError> {
    single_flight(
        ctx,
        entry,
        &RowRefresh {
            pool_key,
            needs,
            exchange: &|row| exchange(row_refresh_token(row, missing)?),
            write_singleton: &|store, _, row| write_tokens_singleton(store, pool_key, row),
            quarantine_singleton: &|store, row, e| {
                quarantine_tokens_singleton(store, pool_key, row, e)
            },
        },
    )
}

/// Refreshes one pool row single-flight (see the module docs) and returns it as persisted.
pub fn single_flight(
    ctx: &PoolContext,
    entry: &PoolEntry,
    r: &RowRefresh<'_>,
) -> Result<PoolEntry, OAuthError> {
    let cfg = |e: crate::store::StoreError| {
        OAuthError::new(r.pool_key, super::ErrorKind::Config, e.to_string())
    };
    let lock = StoreLock::acquire(&ctx.home).map_err(cfg)?;
    let mut store = AuthStore::load_locked(&lock).map_err(cfg)?;
    let now = ctx.now();
    let mut row = stored_row(&store, r.pool_key, entry).unwrap_or_else(|| entry.clone());
    // Borrowed rows come back without their secret; keep ours.
    if row.refresh_token.is_none() {
        row.refresh_token = entry.refresh_token.clone();
    }
    if row.access_token.as_deref().is_none_or(str::is_empty) {
        row.access_token = entry.access_token.clone();
    }
    let rotated_elsewhere =
        row.refresh_token != entry.refresh_token || row.access_token != entry.access_token;
    // Another process rotated while we waited for the lock: adopt its tokens unless they are
    // themselves about to expire (a provider's proactive margin may be wider than that).
    if rotated_elsewhere && !(hard_expiring(&row, now) && (r.needs)(&row, now)) {
        return Ok(row);
    }
    let before = row.clone();
    match (r.exchange)(&row) {
        Ok(t) => {
            row.access_token = Some(t.access_token);
            if let Some(rt) = t.refresh_token.filter(|s| !s.is_empty()) {
                row.refresh_token = Some(rt);
            }
            if t.expires_at_ms.is_some() {
                row.expires_at_ms = t.expires_at_ms;
            }
            if t.expires_at.is_some() {
                row.expires_at = t.expires_at;
            }
            if row.last_refresh.is_some() || matches!(r.pool_key, "openai-codex" | "xai-oauth") {
                row.last_refresh = Some(iso_z(now));
            }
            row.clear_status();
            put_row(&mut store, r.pool_key, &row);
            // Rows sharing the grant (one login seeding two rows) move with it: their old
            // refresh token is spent now.
            for other in store
                .pool_entries(r.pool_key)
                .into_iter()
                .map(|m| PoolEntry::from_map(r.pool_key, m))
                .filter(|o| o.id != row.id && o.refresh_token.is_some())
                .filter(|o| o.refresh_token == before.refresh_token)
                .collect::<Vec<_>>()
            {
                let mut o = other;
                o.access_token = row.access_token.clone();
                o.refresh_token = row.refresh_token.clone();
                o.expires_at_ms = row.expires_at_ms;
                o.expires_at = row.expires_at.clone();
                o.clear_status();
                put_row(&mut store, r.pool_key, &o);
            }
            (r.write_singleton)(&mut store, &before, &row);
            store.save(&lock).map_err(cfg)?;
            Ok(row)
        }
        Err(e) => {
            if e.is_terminal() {
                (r.quarantine_singleton)(&mut store, &row, &e);
                if row.is_manual() {
                    cooldown::mark(
                        &mut row,
                        Some(401),
                        &ErrorContext {
                            // Terminal: the row is dead until a new login.
                            reason: Some(
                                e.code
                                    .clone()
                                    .filter(|c| cooldown::is_dead_reason(Some(401), Some(c)))
                                    .unwrap_or_else(|| "token_revoked".into()),
                            ),
                            message: Some(e.message.clone()),
                            reset_at: None,
                        },
                        now,
                    );
                    put_row(&mut store, r.pool_key, &row);
                }
                let _ = store.save(&lock);
            }
            Err(e)
        }
    }
}

/// Whether the row's access token expires within 120 s (JWT `exp`, `expires_at_ms`, `expires_at`).
pub fn hard_expiring(row: &PoolEntry, now: f64) -> bool {
    let exp = row
        .access_token
        .as_deref()
        .and_then(crate::jwt::exp)
        .or_else(|| row.expires_at_ms.map(|ms| ms as f64 / 1000.0))
        .or_else(|| {
            row.expires_at
                .as_deref()
                .and_then(crate::timefmt::parse_iso)
        });
    exp.is_some_and(|e| e <= now + 120.0)
}

/// `2026-11-22T23:35:55.658034Z`, the `last_refresh` shape.
pub fn iso_z(epoch: f64) -> String {
    crate::timefmt::iso_utc_micros(epoch).replace("+00:00", "Z")
}

/// Writes `last_auth_error` and drops token fields of a `tokens`-shaped singleton (Codex, xAI)
/// if it still holds the failing refresh token (or none); removes its seeded `device_code` rows.
pub fn quarantine_tokens_singleton(
    store: &mut AuthStore,
    provider: &str,
    row: &PoolEntry,
    e: &OAuthError,
) {
    let Some(mut state) = store.provider_state(provider).cloned() else {
        return;
    };
    let stored_rt = state
        .get("tokens")
        .and_then(|t| t.get("refresh_token"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if stored_rt.is_some() && stored_rt != row.refresh_token {
        return;
    }
    if let Some(t) = state.get_mut("tokens").and_then(Value::as_object_mut) {
        t.shift_remove("access_token");
        t.shift_remove("refresh_token");
    }
    state.insert(
        "last_auth_error".into(),
        json!({
            "provider": provider,
            "code": e.code.clone().unwrap_or_else(|| "refresh_failed".into()),
            "message": e.message,
            "reason": "credential_pool_refresh_failure",
            "relogin_required": true,
            "at": crate::timefmt::iso_utc_micros(crate::timefmt::now_epoch()),
        }),
    );
    store.set_provider_state_quiet(provider, state);
    let kept: Vec<Value> = store
        .pool_entries(provider)
        .into_iter()
        .filter(|m| m.get("source").and_then(Value::as_str) != Some("device_code"))
        .map(|m| Value::Object(m.clone()))
        .collect();
    store.set_pool_entries(provider, kept);
}

/// Writes rotated tokens into a `tokens`-shaped singleton for `device_code` rows.
pub fn write_tokens_singleton(store: &mut AuthStore, provider: &str, row: &PoolEntry) {
    if row.source != "device_code" {
        return;
    }
    let Some(mut state) = store.provider_state(provider).cloned() else {
        return;
    };
    let tokens = state
        .entry("tokens")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(t) = tokens {
        t.insert("access_token".into(), json!(row.access_token));
        t.insert("refresh_token".into(), json!(row.refresh_token));
    }
    if let Some(lr) = &row.last_refresh {
        state.insert("last_refresh".into(), json!(lr));
    }
    store.set_provider_state_quiet(provider, state);
}
