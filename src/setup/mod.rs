//! `hermes setup` as a library: backups and reset of `config.yaml`, detection of an existing
//! install, and the per-provider rotation strategies of `setup pool`.

use std::path::{Path, PathBuf};

use crate::home::Home;
use crate::model::{self, CredState};
use crate::pool::{PoolContext, Strategy};
use crate::providers::registry;
use crate::store::{AuthStore, Config, StoreError, atomic};

/// How many `config.yaml.bak.*` files `--reset` keeps.
pub const MAX_BACKUPS: usize = 5;

/// What `config.yaml` holds after `--reset`.
pub const DEFAULT_CONFIG: &str = "_config_version: 33\n";

/// `YYYYMMDD_HHMMSS` in local time.
fn local_stamp() -> String {
    // SAFETY: `time` and `localtime_r` with valid pointers to stack values.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        format!(
            "{:04}{:02}{:02}_{:02}{:02}{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

fn backups(home: &Home) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(home.dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("config.yaml.bak."))
        })
        .collect();
    // Oldest first: by modification time, then name.
    v.sort_by_key(|p| {
        (
            std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            p.clone(),
        )
    });
    v
}

/// Copies `config.yaml` to `config.yaml.bak.<stamp>` (0600) and keeps the newest
/// [`MAX_BACKUPS`]. `None` when there is no config to back up.
pub fn backup_config(home: &Home) -> Result<Option<PathBuf>, StoreError> {
    let src = home.config_yaml();
    let bytes = match std::fs::read(&src) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path: src, source }),
    };
    let stamp = local_stamp();
    let mut dest = home.dir().join(format!("config.yaml.bak.{stamp}"));
    let mut n = backups(home)
        .iter()
        .filter(|p| p.to_string_lossy().contains(&stamp))
        .count();
    while dest.exists() {
        n += 1;
        dest = home.dir().join(format!("config.yaml.bak.{stamp}_{n:03}"));
    }
    atomic::write_atomic(&dest, &bytes, 0o600)?;
    let all = backups(home);
    if all.len() > MAX_BACKUPS {
        for old in &all[..all.len() - MAX_BACKUPS] {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(Some(dest))
}

/// `--reset`: backs up the current config first, then writes the default one.
pub fn reset_config(home: &Home) -> Result<Option<PathBuf>, StoreError> {
    let backup = backup_config(home)?;
    atomic::ensure_private_dir(home.dir())?;
    atomic::write_atomic(&home.config_yaml(), DEFAULT_CONFIG.as_bytes(), 0o600)?;
    Ok(backup)
}

/// What an existing install already has.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Pools with credentials (pool key, count).
    pub pools: Vec<(String, usize)>,
}

impl Existing {
    pub fn is_configured(&self) -> bool {
        self.provider.is_some() || self.model.is_some() || !self.pools.is_empty()
    }
}

/// Detects an existing install from `config.yaml` (`model.*`) and the credential pools
/// (stored entries and API keys in `.env` / the environment).
pub fn detect(ctx: &PoolContext) -> Existing {
    let cur = model::current(ctx);
    Existing {
        provider: cur
            .provider
            .or(cur.unknown)
            .or(cur.detected.map(|(id, _)| id)),
        model: cur.model,
        pools: pools_with_credentials(ctx),
    }
}

/// Every pool key with credentials, in registry order then custom providers.
pub fn pools_with_credentials(ctx: &PoolContext) -> Vec<(String, usize)> {
    let store = AuthStore::load(&ctx.home).unwrap_or_else(|_| AuthStore::empty(&ctx.home));
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut seen_env: Vec<String> = Vec::new();
    for p in registry().all() {
        let stored = store.pool_entries(&p.id).len();
        let n = match model::cred_state(ctx, &store, &p.id) {
            CredState::EnvKey(var, _) => {
                // Alias rows (`fw`, `deep-infra`) share their env var with the main row.
                if seen_env.contains(&var) && stored == 0 {
                    continue;
                }
                seen_env.push(var);
                stored.max(1)
            }
            CredState::Stored(n) => n,
            CredState::None => 0,
        };
        if n > 0 {
            out.push((p.id.clone(), n));
        }
    }
    for key in store.pool_keys() {
        if key.starts_with("custom:") && !out.iter().any(|(k, _)| *k == key) {
            let n = store.pool_entries(&key).len();
            if n > 0 {
                out.push((key, n));
            }
        }
    }
    for cp in ctx.config.custom_providers() {
        let key = cp.pool_key();
        if cp.api_key.is_some() && !out.iter().any(|(k, _)| *k == key) {
            out.push((key, 1));
        }
    }
    out
}

/// The configured strategy of a pool.
pub fn strategy(config: &Config, key: &str) -> Strategy {
    Strategy::parse_lenient(config.strategy_value(key))
}

/// Writes `credential_pool_strategies.<key>`.
pub fn set_strategy(config: &mut Config, key: &str, s: Strategy) -> Result<(), StoreError> {
    config.set(
        &["credential_pool_strategies", key],
        serde_yaml::Value::String(s.as_str().to_string()),
    )
}

/// Whether `path` is one of the backups this module writes.
pub fn is_backup(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("config.yaml.bak."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_backs_up_first_and_keeps_five() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::at(d.path());
        assert!(reset_config(&home).unwrap().is_none());
        for i in 0..7 {
            std::fs::write(home.config_yaml(), format!("model:\n  default: m{i}\n")).unwrap();
            let b = reset_config(&home).unwrap().unwrap();
            assert_eq!(
                std::fs::read_to_string(&b).unwrap(),
                format!("model:\n  default: m{i}\n")
            );
            assert!(is_backup(&b));
        }
        assert_eq!(backups(&home).len(), MAX_BACKUPS);
        assert_eq!(
            std::fs::read_to_string(home.config_yaml()).unwrap(),
            DEFAULT_CONFIG
        );
    }
}
