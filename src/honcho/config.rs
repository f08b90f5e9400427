//! The Honcho config file (`honcho.json`) and the host key, resolved as the reference does.
//!
//! Read path: `$HERMES_HOME/honcho.json` if it exists, else the default profile's
//! `<root>/honcho.json`, else `~/.honcho/config.json`. The setup wizard writes the
//! profile-local `$HERMES_HOME/honcho.json` (seeded from the read path).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::home::{Home, user_home};
use crate::store::{StoreError, atomic};

/// Env var naming the Honcho host block explicitly.
pub const HOST_ENV: &str = crate::envvars::HERMES_HONCHO_HOST;
const HOST: &str = "hermes";

/// The default (root) Hermes home: `~/.hermes` when `HERMES_HOME` lies under it, `<X>` when
/// `HERMES_HOME=<X>/profiles/<name>`, else `HERMES_HOME` itself.
pub fn default_root(home: &Home) -> PathBuf {
    let dir = home.dir();
    if let Some(h) = user_home() {
        let root = h.join(".hermes");
        if dir.starts_with(&root) {
            return root;
        }
    }
    if let Some(parent) = dir.parent()
        && parent.file_name().is_some_and(|n| n == "profiles")
        && let Some(root) = parent.parent()
    {
        return root.to_path_buf();
    }
    dir.to_path_buf()
}

/// The active profile: `<name>` when `HERMES_HOME` is `<root>/profiles/<name>`, else `default`.
pub fn active_profile(home: &Home) -> String {
    let dir = home.dir();
    match dir.parent() {
        Some(p) if p.file_name().is_some_and(|n| n == "profiles") => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "default".into()),
        _ => "default".into(),
    }
}

/// `hermes`, or `hermes_<profile>` for a named profile (unsafe chars become `_`).
pub fn profile_host_key(profile: &str) -> String {
    if profile.is_empty() || profile == "default" || profile == "custom" {
        return HOST.into();
    }
    let s: String = profile
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_');
    format!("{HOST}_{}", if s.is_empty() { "profile" } else { s })
}

/// The host block this profile uses: `HERMES_HONCHO_HOST`, else the profile's key, else (default
/// profile only) the config's `defaultHost`, else `hermes`.
pub fn active_host(home: &Home, raw: &Map<String, Value>) -> String {
    if let Ok(v) = std::env::var(HOST_ENV)
        && !v.trim().is_empty()
    {
        return v.trim().to_string();
    }
    let key = profile_host_key(&active_profile(home));
    if key == HOST
        && let Some(d) = raw.get("defaultHost").and_then(Value::as_str)
        && !d.trim().is_empty()
    {
        return d.trim().to_string();
    }
    key
}

/// The candidate paths of one home.
#[derive(Debug, Clone)]
pub struct HonchoPaths {
    /// `$HERMES_HOME/honcho.json` (where the wizard writes).
    pub local: PathBuf,
    /// `<root>/honcho.json`.
    pub default_profile: PathBuf,
    /// `~/.honcho/config.json`.
    pub global: PathBuf,
}

impl HonchoPaths {
    pub fn new(home: &Home) -> Self {
        let user = user_home().unwrap_or_else(|| PathBuf::from("/"));
        Self {
            local: home.dir().join("honcho.json"),
            default_profile: default_root(home).join("honcho.json"),
            global: user.join(".honcho").join("config.json"),
        }
    }

    /// The file to read (and to refresh into): the first that exists, else the global path.
    pub fn resolve(&self) -> PathBuf {
        if self.local.exists() {
            return self.local.clone();
        }
        if self.default_profile != self.local && self.default_profile.exists() {
            return self.default_profile.clone();
        }
        self.global.clone()
    }
}

/// The file's JSON object; missing or unreadable ⇒ empty.
pub fn read(path: &Path) -> Map<String, Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// The file's JSON object for a command that will show or rewrite it: missing ⇒ empty, but an
/// unreadable file, invalid JSON or a non-object is an error, so a damaged config is reported and
/// never silently replaced.
pub fn read_checked(path: &Path) -> Result<Map<String, Value>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
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
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(StoreError::NotAnObject {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes the config (2-space JSON + newline) through temp + rename, mode 0600.
pub fn write(path: &Path, raw: &Map<String, Value>) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(raw.clone())).expect("JSON");
    bytes.push(b'\n');
    atomic::write_atomic(path, &bytes, 0o600)
}

/// `hosts.<host>` (accepting the legacy `hermes.<profile>` spelling when reading).
pub fn host_block<'a>(raw: &'a Map<String, Value>, host: &str) -> Option<&'a Map<String, Value>> {
    let hosts = raw.get("hosts")?.as_object()?;
    if let Some(b) = hosts.get(host).and_then(Value::as_object)
        && !b.is_empty()
    {
        return Some(b);
    }
    let legacy = host
        .strip_prefix("hermes_")
        .map(|p| format!("hermes.{p}"))?;
    hosts.get(&legacy).and_then(Value::as_object)
}

/// `hosts.<host>`, created when missing.
pub fn host_block_mut<'a>(
    raw: &'a mut Map<String, Value>,
    host: &str,
) -> &'a mut Map<String, Value> {
    let hosts = raw
        .entry("hosts")
        .or_insert_with(|| Value::Object(Map::new()));
    if !hosts.is_object() {
        *hosts = Value::Object(Map::new());
    }
    let block = hosts
        .as_object_mut()
        .expect("object")
        .entry(host.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !block.is_object() {
        *block = Value::Object(Map::new());
    }
    block.as_object_mut().expect("object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_profiles() {
        let h = Home::at("/x/profiles/work");
        assert_eq!(default_root(&h), PathBuf::from("/x"));
        assert_eq!(active_profile(&h), "work");
        assert_eq!(profile_host_key("work"), "hermes_work");
        assert_eq!(profile_host_key("a b"), "hermes_a_b");
        assert_eq!(profile_host_key("default"), "hermes");
        assert_eq!(active_profile(&Home::at("/y/home")), "default");
    }

    #[test]
    fn host_blocks() {
        let mut raw = Map::new();
        host_block_mut(&mut raw, "hermes").insert("apiKey".into(), Value::from("k"));
        assert_eq!(host_block(&raw, "hermes").unwrap()["apiKey"], "k");
        let legacy: Map<String, Value> =
            serde_json::from_str(r#"{"hosts":{"hermes.work":{"apiKey":"l"}}}"#).unwrap();
        assert_eq!(host_block(&legacy, "hermes_work").unwrap()["apiKey"], "l");
    }
}
