//! `auth.json`: the store the Python reference and this binary share.
//!
//! The document is kept as an ordered JSON object, so unknown top-level keys (and unknown keys
//! inside provider state) survive every rewrite untouched. Reads take no lock (writes are atomic
//! renames); every read-modify-write happens under [`StoreLock`] and re-reads the file first.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{StoreError, StoreLock, atomic, json as rjson};
use crate::home::Home;

/// A snapshot of `auth.json`.
#[derive(Debug, Clone)]
pub struct AuthStore {
    path: PathBuf,
    doc: Map<String, Value>,
    /// Whether the file existed when this snapshot was read.
    existed: bool,
}

fn empty_doc() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), json!(1));
    m.insert("providers".into(), json!({}));
    m
}

impl AuthStore {
    /// Reads `auth.json` in `home`. A missing file is an empty store; an unreadable or
    /// unparsable file is an error (its bytes are never overwritten by us).
    pub fn load(home: &Home) -> Result<Self, StoreError> {
        Self::load_path(&home.auth_json())
    }

    /// Re-reads the store while holding the lock, as every read-modify-write must.
    pub fn load_locked(lock: &StoreLock) -> Result<Self, StoreError> {
        Self::load_path(&lock.home_dir().join("auth.json"))
    }

    pub fn load_path(path: &Path) -> Result<Self, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_path_buf(),
                    doc: empty_doc(),
                    existed: false,
                });
            }
            Err(source) => {
                return Err(StoreError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            // Line and column only: serde's message could quote a fragment of a secret.
            detail: format!(
                "{:?} error at line {}, column {}",
                e.classify(),
                e.line(),
                e.column()
            )
            .to_lowercase(),
        })?;
        let Value::Object(mut doc) = value else {
            return Err(StoreError::NotAnObject {
                path: path.to_path_buf(),
            });
        };
        // Legacy layout: {"systems": {"nous_portal": {...}}}.
        if !doc.contains_key("providers")
            && !doc.contains_key("credential_pool")
            && let Some(Value::Object(systems)) = doc.get("systems")
        {
            let mut migrated = empty_doc();
            let mut active = Value::Null;
            if let Some(nous) = systems.get("nous_portal") {
                migrated["providers"]["nous"] = nous.clone();
                active = json!("nous");
            }
            migrated.insert("active_provider".into(), active);
            doc = migrated;
        }
        if !matches!(doc.get("providers"), Some(Value::Object(_))) {
            doc.insert("providers".into(), json!({}));
        }
        // Portal migration: api.nousresearch.com -> portal.nousresearch.com.
        if let Some(Value::String(url)) = doc
            .get_mut("providers")
            .and_then(|p| p.get_mut("nous"))
            .and_then(|n| n.get_mut("portal_base_url"))
            && url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .as_deref()
                == Some("api.nousresearch.com")
        {
            *url = "https://portal.nousresearch.com".into();
        }
        Ok(Self {
            path: path.to_path_buf(),
            doc,
            existed: true,
        })
    }

    /// An empty in-memory store for `home` (tests, fresh homes).
    pub fn empty(home: &Home) -> Self {
        Self {
            path: home.auth_json(),
            doc: empty_doc(),
            existed: false,
        }
    }

    pub fn existed(&self) -> bool {
        self.existed
    }

    /// Writes the store atomically (0600, directory 0700). Needs the lock guard.
    pub fn save(&mut self, lock: &StoreLock) -> Result<(), StoreError> {
        debug_assert_eq!(self.path.parent(), Some(lock.home_dir()));
        if let Some(dir) = self.path.parent() {
            atomic::ensure_private_dir(dir)?;
        }
        self.doc.insert("version".into(), json!(1));
        self.doc.insert(
            "updated_at".into(),
            json!(crate::timefmt::iso_utc_micros(crate::timefmt::now_epoch())),
        );
        let bytes = rjson::to_reference_bytes(&self.doc);
        atomic::write_atomic(&self.path, &bytes, 0o600)?;
        self.existed = true;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw document (read-only), e.g. for `--json` dumps in tests.
    pub fn document(&self) -> &Map<String, Value> {
        &self.doc
    }

    // ---- providers.<id> singleton state ----

    pub fn provider_state(&self, id: &str) -> Option<&Map<String, Value>> {
        self.doc.get("providers")?.get(id)?.as_object()
    }

    /// Sets `providers.<id>` and makes `id` the active provider (the reference's "save provider state").
    pub fn save_provider_state(&mut self, id: &str, state: Map<String, Value>) {
        self.set_provider_state_quiet(id, state);
        self.set_active_provider(Some(id));
    }

    /// Sets `providers.<id>` without touching `active_provider` (refresh write-backs).
    pub fn set_provider_state_quiet(&mut self, id: &str, state: Map<String, Value>) {
        self.providers_mut()
            .insert(id.to_string(), Value::Object(state));
    }

    pub fn remove_provider_state(&mut self, id: &str) -> bool {
        self.providers_mut().shift_remove(id).is_some()
    }

    fn providers_mut(&mut self) -> &mut Map<String, Value> {
        let v = self.doc.entry("providers").or_insert_with(|| json!({}));
        if !v.is_object() {
            *v = json!({});
        }
        v.as_object_mut().expect("providers is an object")
    }

    // ---- active_provider ----

    pub fn active_provider(&self) -> Option<&str> {
        self.doc
            .get("active_provider")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn set_active_provider(&mut self, id: Option<&str>) {
        self.doc.insert(
            "active_provider".into(),
            id.map_or(Value::Null, |s| json!(s)),
        );
    }

    // ---- credential_pool ----

    /// Pool keys present in the file, in file order.
    pub fn pool_keys(&self) -> Vec<String> {
        self.doc
            .get("credential_pool")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The raw entries of one pool (objects only; anything else in the array is skipped).
    pub fn pool_entries(&self, key: &str) -> Vec<&Map<String, Value>> {
        self.doc
            .get("credential_pool")
            .and_then(|p| p.get(key))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    }

    pub fn has_pool(&self, key: &str) -> bool {
        self.doc
            .get("credential_pool")
            .and_then(|p| p.get(key))
            .is_some()
    }

    pub fn set_pool_entries(&mut self, key: &str, entries: Vec<Value>) {
        let pool = self
            .doc
            .entry("credential_pool")
            .or_insert_with(|| json!({}));
        if !pool.is_object() {
            *pool = json!({});
        }
        pool.as_object_mut()
            .expect("object")
            .insert(key.to_string(), Value::Array(entries));
    }

    pub fn remove_pool(&mut self, key: &str) -> bool {
        self.doc
            .get_mut("credential_pool")
            .and_then(Value::as_object_mut)
            .is_some_and(|m| m.shift_remove(key).is_some())
    }

    // ---- suppressed_sources ----

    pub fn suppressed(&self, key: &str) -> Vec<String> {
        self.doc
            .get("suppressed_sources")
            .and_then(|s| s.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn is_suppressed(&self, key: &str, source: &str) -> bool {
        self.suppressed(key).iter().any(|s| s == source)
    }

    /// Adds a suppression marker; returns whether anything changed.
    pub fn suppress(&mut self, key: &str, source: &str) -> bool {
        if self.is_suppressed(key, source) {
            return false;
        }
        let all = self
            .doc
            .entry("suppressed_sources")
            .or_insert_with(|| json!({}));
        if !all.is_object() {
            *all = json!({});
        }
        let list = all
            .as_object_mut()
            .expect("object")
            .entry(key.to_string())
            .or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        list.as_array_mut().expect("array").push(json!(source));
        true
    }

    /// Removes a marker; drops the key (and `suppressed_sources`) once empty.
    pub fn unsuppress(&mut self, key: &str, source: &str) -> bool {
        let Some(all) = self
            .doc
            .get_mut("suppressed_sources")
            .and_then(Value::as_object_mut)
        else {
            return false;
        };
        let Some(list) = all.get_mut(key).and_then(Value::as_array_mut) else {
            return false;
        };
        let before = list.len();
        list.retain(|v| v.as_str() != Some(source));
        if list.len() == before {
            return false;
        }
        if list.is_empty() {
            all.shift_remove(key);
        }
        if all.is_empty() {
            self.doc.shift_remove("suppressed_sources");
        }
        true
    }

    /// Removes every marker of a pool key; returns whether anything changed.
    pub fn unsuppress_all(&mut self, key: &str) -> bool {
        let markers = self.suppressed(key);
        let mut changed = false;
        for m in markers {
            changed |= self.unsuppress(key, &m);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> (tempfile::TempDir, Home) {
        let t = tempfile::tempdir().unwrap();
        let h = Home::at(t.path().join("h"));
        (t, h)
    }

    #[test]
    fn missing_file_is_empty_and_creates_nothing() {
        let (_t, h) = home();
        let s = AuthStore::load(&h).unwrap();
        assert!(!s.existed());
        assert!(!h.dir().exists());
    }

    #[test]
    fn corrupt_file_is_an_error_and_untouched() {
        let (_t, h) = home();
        std::fs::create_dir_all(h.dir()).unwrap();
        std::fs::write(h.auth_json(), b"{not json").unwrap();
        let err = AuthStore::load(&h).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(h.auth_json()).unwrap(), b"{not json");
        std::fs::write(h.auth_json(), b"[1,2]").unwrap();
        assert!(matches!(
            AuthStore::load(&h).unwrap_err(),
            StoreError::NotAnObject { .. }
        ));
    }

    #[test]
    fn save_is_0600_in_0700_and_keeps_unknown_keys() {
        use std::os::unix::fs::PermissionsExt;
        let (_t, h) = home();
        std::fs::create_dir_all(h.dir()).unwrap();
        std::fs::write(
            h.auth_json(),
            br#"{"version":1,"active_provider":"x","x_future":{"k":[1]}}"#,
        )
        .unwrap();
        let lock = StoreLock::acquire(&h).unwrap();
        let mut s = AuthStore::load_locked(&lock).unwrap();
        assert_eq!(s.active_provider(), Some("x"));
        s.suppress("openrouter", "env:A");
        s.save(&lock).unwrap();
        drop(lock);
        let text = std::fs::read_to_string(h.auth_json()).unwrap();
        assert!(text.contains("\"x_future\""));
        assert!(text.contains("\"active_provider\": \"x\""));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&h.auth_json()), 0o600);
        assert_eq!(mode(h.dir()), 0o700);
        assert!(h.auth_lock().exists());
    }

    #[test]
    fn legacy_systems_layout_is_migrated() {
        let (_t, h) = home();
        std::fs::create_dir_all(h.dir()).unwrap();
        std::fs::write(
            h.auth_json(),
            br#"{"systems": {"nous_portal": {"access_token": "x"}}}"#,
        )
        .unwrap();
        let s = AuthStore::load(&h).unwrap();
        assert_eq!(s.provider_state("nous").unwrap()["access_token"], "x");
        assert_eq!(s.active_provider(), Some("nous"));
    }

    #[test]
    fn unsuppress_drops_empty_containers() {
        let (_t, h) = home();
        let mut s = AuthStore::empty(&h);
        assert!(s.suppress("openai-codex", "device_code"));
        assert!(!s.suppress("openai-codex", "device_code"));
        assert!(s.unsuppress("openai-codex", "device_code"));
        assert!(!s.document().contains_key("suppressed_sources"));
        assert!(!s.unsuppress("openai-codex", "device_code"));
    }
}
