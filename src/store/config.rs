//! `config.yaml`: the keys provider auth reads (`model.*`, `custom_providers`, `providers`,
//! `credential_pool_strategies`). Writes change only the keys they are about: the file is edited
//! in place (yaml-edit's lossless tree), so comments, key order, quoting and unrelated keys
//! survive byte for byte outside the changed keys.

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};

use super::{StoreError, atomic};
use crate::home::Home;

/// A custom (OpenAI-compatible) endpoint from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomProvider {
    /// Display name, trimmed, original case (`Together AI`).
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    /// The map key for `providers:` entries.
    pub provider_key: Option<String>,
}

impl CustomProvider {
    /// `custom:<trimmed, lowercased, spaces to dashes>`.
    pub fn pool_key(&self) -> String {
        format!("custom:{}", normalize_custom_name(&self.name))
    }
}

pub fn normalize_custom_name(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "-")
}

/// A snapshot of `config.yaml` (empty when the file is missing).
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    root: Value,
    /// The file as read (or last written): the base of in-place edits.
    text: String,
}

/// One change to `config.yaml`.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Sets the key at the path (creating maps on the way).
    Set(Vec<String>, Value),
    /// Deletes the key at the path (nothing when absent).
    Remove(Vec<String>),
}

impl Edit {
    pub fn set(path: &[&str], value: impl Into<Value>) -> Self {
        Self::Set(path.iter().map(|s| s.to_string()).collect(), value.into())
    }
    pub fn remove(path: &[&str]) -> Self {
        Self::Remove(path.iter().map(|s| s.to_string()).collect())
    }
}

fn yaml_str(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn looks_like_url(s: &str) -> bool {
    if s.contains('{') && s.contains('}') {
        return true;
    }
    url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

impl Config {
    pub fn load(home: &Home) -> Result<Self, StoreError> {
        let path = home.config_yaml();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path,
                    root: Value::Mapping(Mapping::new()),
                    text: String::new(),
                });
            }
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let root = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml::from_str::<Value>(&text).map_err(|e| StoreError::ConfigCorrupt {
                path: path.clone(),
                detail: e.location().map_or_else(
                    || "parse error".to_string(),
                    |l| format!("error at line {}, column {}", l.line(), l.column()),
                ),
            })?
        };
        Ok(Self { path, root, text })
    }

    pub fn empty(home: &Home) -> Self {
        Self {
            path: home.config_yaml(),
            root: Value::Mapping(Mapping::new()),
            text: String::new(),
        }
    }

    /// The whole document (a mapping, possibly empty).
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Whether `config.yaml` existed (or was written) with any content.
    pub fn has_content(&self) -> bool {
        !self.text.trim().is_empty()
    }

    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let mut v = &self.root;
        for k in path {
            v = v.as_mapping()?.get(*k)?;
        }
        Some(v)
    }

    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        self.get(path).and_then(yaml_str)
    }

    pub fn model_provider(&self) -> Option<&str> {
        self.get_str(&["model", "provider"])
    }
    pub fn model_default(&self) -> Option<&str> {
        self.get_str(&["model", "default"])
    }
    pub fn model_base_url(&self) -> Option<&str> {
        self.get_str(&["model", "base_url"])
    }
    /// `model.api_key`, else `model.api`.
    pub fn model_api_key(&self) -> Option<&str> {
        self.get_str(&["model", "api_key"])
            .or_else(|| self.get_str(&["model", "api"]))
    }

    /// `credential_pool_strategies.<pool_key>` (raw value).
    pub fn strategy_value(&self, pool_key: &str) -> Option<&str> {
        self.get_str(&["credential_pool_strategies", pool_key])
    }

    /// Custom providers from `custom_providers:` (list) and `providers:` (map), in that order,
    /// de-duplicated by normalized name. (The reference ignores `providers:` when both exist.)
    pub fn custom_providers(&self) -> Vec<CustomProvider> {
        let mut out: Vec<CustomProvider> = Vec::new();
        if let Some(list) = self.get(&["custom_providers"]).and_then(Value::as_sequence) {
            for item in list {
                let Some(m) = item.as_mapping() else { continue };
                let Some(name) = m.get("name").and_then(yaml_str) else {
                    continue;
                };
                out.push(CustomProvider {
                    name: name.to_string(),
                    base_url: m
                        .get("base_url")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                    api_key: m.get("api_key").and_then(yaml_str).map(str::to_string),
                    provider_key: None,
                });
            }
        }
        if let Some(map) = self.get(&["providers"]).and_then(Value::as_mapping) {
            for (k, v) in map {
                let (Some(key), Some(m)) = (k.as_str(), v.as_mapping()) else {
                    continue;
                };
                let name = m.get("name").and_then(yaml_str).unwrap_or(key).to_string();
                let url = ["base_url", "url", "api"]
                    .iter()
                    .filter_map(|f| m.get(*f).and_then(yaml_str))
                    .find(|u| looks_like_url(u));
                let Some(url) = url else { continue };
                let norm = normalize_custom_name(&name);
                if out.iter().any(|c| normalize_custom_name(&c.name) == norm) {
                    continue;
                }
                out.push(CustomProvider {
                    name,
                    base_url: url.to_string(),
                    api_key: m.get("api_key").and_then(yaml_str).map(str::to_string),
                    provider_key: Some(key.to_string()),
                });
            }
        }
        out
    }

    /// The custom provider behind `custom:<name>`.
    pub fn custom_provider(&self, pool_key: &str) -> Option<CustomProvider> {
        let name = pool_key.strip_prefix("custom:")?;
        self.custom_providers()
            .into_iter()
            .find(|c| normalize_custom_name(&c.name) == name)
    }

    /// `custom:<name>` of the provider whose base URL (trailing `/` ignored) equals `base_url`,
    /// preferring a provider whose name matches `provider_name`.
    pub fn custom_pool_key_for_url(
        &self,
        base_url: &str,
        provider_name: Option<&str>,
    ) -> Option<String> {
        let want = base_url.trim().trim_end_matches('/');
        if want.is_empty() {
            return None;
        }
        let all = self.custom_providers();
        if let Some(n) = provider_name.map(normalize_custom_name)
            && let Some(c) = all.iter().find(|c| normalize_custom_name(&c.name) == n)
        {
            return Some(c.pool_key());
        }
        all.iter()
            .find(|c| c.base_url.trim().trim_end_matches('/') == want)
            .map(CustomProvider::pool_key)
    }

    /// Sets `path` to `value` (creating maps on the way) and writes the file atomically
    /// (0600). Other keys, comments and key order are kept.
    pub fn set(&mut self, path: &[&str], value: Value) -> Result<(), StoreError> {
        self.apply(&[Edit::set(path, value)])
    }

    /// Removes the key at `path` (if present) and writes the file.
    pub fn remove(&mut self, path: &[&str]) -> Result<(), StoreError> {
        self.apply(&[Edit::remove(path)])
    }

    /// Applies several edits in one write.
    pub fn apply(&mut self, edits: &[Edit]) -> Result<(), StoreError> {
        let mut expected = self.root.clone();
        for e in edits {
            apply_to_value(&mut expected, e);
        }
        let edited = edit_text(&self.text, edits).filter(|t| {
            // Trust the in-place edit only when it reads back as exactly the intended tree.
            serde_yaml::from_str::<Value>(t)
                .ok()
                .map(|v| {
                    if v.is_null() {
                        Value::Mapping(Mapping::new())
                    } else {
                        v
                    }
                })
                .is_some_and(|v| v == expected)
        });
        let text = match edited {
            Some(t) => t,
            None => serde_yaml::to_string(&expected).map_err(|e| StoreError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
        };
        if let Some(dir) = self.path.parent() {
            atomic::ensure_private_dir(dir)?;
        }
        atomic::write_atomic(&self.path, text.as_bytes(), 0o600)?;
        self.root = expected;
        self.text = text;
        Ok(())
    }
}

fn apply_to_value(root: &mut Value, edit: &Edit) {
    if !root.is_mapping() {
        *root = Value::Mapping(Mapping::new());
    }
    match edit {
        Edit::Set(path, value) => {
            let mut cur = root;
            for (i, k) in path.iter().enumerate() {
                let map = cur.as_mapping_mut().expect("mapping");
                if i + 1 == path.len() {
                    map.insert(Value::String(k.clone()), value.clone());
                    break;
                }
                let next = map
                    .entry(Value::String(k.clone()))
                    .or_insert_with(|| Value::Mapping(Mapping::new()));
                if !next.is_mapping() {
                    *next = Value::Mapping(Mapping::new());
                }
                cur = next;
            }
        }
        Edit::Remove(path) => {
            let Some((last, parents)) = path.split_last() else {
                return;
            };
            let mut cur = root;
            for k in parents {
                match cur.as_mapping_mut().and_then(|m| m.get_mut(k.as_str())) {
                    Some(v) => cur = v,
                    None => return,
                }
            }
            if let Some(m) = cur.as_mapping_mut() {
                m.remove(last.as_str());
            }
        }
    }
}

/// Applies `edits` to the YAML text with a lossless tree; `None` when the text cannot be edited
/// that way (the caller then falls back to a plain rewrite).
fn edit_text(text: &str, edits: &[Edit]) -> Option<String> {
    use std::str::FromStr;
    use yaml_edit::Document;
    let (doc, prefix) = match Document::from_str(text) {
        Ok(d) if d.as_mapping().is_some() => (d, String::new()),
        // Empty, or only comments: keep what is there and append a fresh mapping.
        _ if serde_yaml::from_str::<Value>(text).is_ok_and(|v| v.is_null()) => {
            let mut p = text.to_string();
            if !p.is_empty() && !p.ends_with('\n') {
                p.push('\n');
            }
            (Document::new_mapping(), p)
        }
        _ => return None,
    };
    let root = doc.as_mapping()?;
    for e in edits {
        match e {
            Edit::Set(path, value) => {
                let (last, parents) = path.split_last()?;
                let mut m = root.clone();
                for k in parents {
                    m = match m.get_mapping(k.as_str()) {
                        Some(n) => n,
                        None => {
                            m.set(k.as_str(), yaml_edit::Mapping::new_pending_block());
                            m.get_mapping(k.as_str())?
                        }
                    };
                }
                set_value(&m, last, value)?;
            }
            Edit::Remove(path) => {
                let (last, parents) = path.split_last()?;
                let mut m = root.clone();
                let mut found = true;
                for k in parents {
                    match m.get_mapping(k.as_str()) {
                        Some(n) => m = n,
                        None => {
                            found = false;
                            break;
                        }
                    }
                }
                if found {
                    m.remove(last.as_str());
                }
            }
        }
    }
    Some(format!("{prefix}{doc}"))
}

fn set_value(m: &yaml_edit::Mapping, key: &str, value: &Value) -> Option<()> {
    use std::str::FromStr;
    use yaml_edit::{Document, ScalarValue, YamlValue};
    match value {
        Value::Null => m.set(key, YamlValue::scalar(ScalarValue::null())),
        Value::Bool(b) => m.set(key, *b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                m.set(key, i)
            } else {
                m.set(key, n.as_f64()?)
            }
        }
        Value::String(s) => m.set(key, s.as_str()),
        Value::Sequence(s) if s.is_empty() => m.set(key, Vec::<YamlValue>::new()),
        Value::Mapping(x) if x.is_empty() => m.set(key, yaml_edit::Mapping::new_flow()),
        Value::Sequence(_) | Value::Mapping(_) => {
            let t = serde_yaml::to_string(value).ok()?;
            let d = Document::from_str(&t).ok()?;
            if let Some(mm) = d.as_mapping() {
                m.set(key, mm)
            } else {
                m.set(key, d.as_sequence()?)
            }
        }
        Value::Tagged(_) => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.yaml"), text).unwrap();
        let c = Config::load(&Home::at(d.path())).unwrap();
        (d, c)
    }

    #[test]
    fn reads_both_custom_provider_shapes() {
        let (_d, c) = cfg(
            "custom_providers:\n- name: Together AI\n  base_url: https://api.together.xyz/v1\n  api_key: k\nproviders:\n  local:\n    api: http://localhost:8000/v1\n  bad:\n    api: nope\n",
        );
        let all = c.custom_providers();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].pool_key(), "custom:together-ai");
        assert_eq!(all[1].pool_key(), "custom:local");
        assert_eq!(
            c.custom_pool_key_for_url("https://api.together.xyz/v1/", None)
                .as_deref(),
            Some("custom:together-ai")
        );
        assert_eq!(c.custom_pool_key_for_url("", None), None);
        assert_eq!(c.custom_pool_key_for_url("http://x", None), None);
    }

    #[test]
    fn edits_keep_comments_order_and_unrelated_keys_byte_for_byte() {
        let original = "# Hermes config (hand-edited)\nmodel:\n  default: old-model   # my favourite\n  provider: deepseek\n  api_key: sk-gone\n\n# keep this block exactly\nterminal:\n  backend: docker   # docker!\n  flags: [a, 'b', \"c\"]\n\nzeta: 1\n";
        let (d, mut c) = cfg(original);
        c.apply(&[
            Edit::set(&["model", "default"], "new-model"),
            Edit::set(&["model", "base_url"], "https://api.deepseek.com/v1"),
            Edit::remove(&["model", "api_key"]),
            Edit::set(&["credential_pool_strategies", "deepseek"], "round_robin"),
        ])
        .unwrap();
        let after = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        // Everything outside the changed keys survives byte for byte.
        assert!(after.starts_with("# Hermes config (hand-edited)\nmodel:\n  default: new-model   # my favourite\n  provider: deepseek\n"), "{after}");
        assert!(after.contains("\n\n# keep this block exactly\nterminal:\n  backend: docker   # docker!\n  flags: [a, 'b', \"c\"]\n\nzeta: 1\n"), "{after}");
        assert!(!after.contains("sk-gone"));
        let c2 = Config::load(&Home::at(d.path())).unwrap();
        assert_eq!(c2.model_base_url(), Some("https://api.deepseek.com/v1"));
        assert_eq!(c2.strategy_value("deepseek"), Some("round_robin"));
        // A second write on the reloaded file keeps it too.
        let mut c2 = c2;
        c2.set(
            &["custom_providers"],
            serde_yaml::from_str("- name: Local\n  base_url: http://127.0.0.1:1/v1\n").unwrap(),
        )
        .unwrap();
        let again = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        assert!(again.starts_with(&after), "{again}");
        assert_eq!(
            Config::load(&Home::at(d.path()))
                .unwrap()
                .custom_providers()
                .len(),
            1
        );
    }

    #[test]
    fn tricky_keys_and_values_read_back_exactly() {
        let (d, mut c) = cfg("# c\nkeep: 1\n");
        let tricky = [
            "a: b # c",
            "yes",
            "123",
            "",
            "- x",
            "{x}",
            "'q'",
            "poolside/laguna-m.1:free",
        ];
        for (i, v) in tricky.iter().enumerate() {
            c.set(&["t", &format!("custom:k{i}")], Value::String((*v).into()))
                .unwrap();
        }
        let c2 = Config::load(&Home::at(d.path())).unwrap();
        for (i, v) in tricky.iter().enumerate() {
            assert_eq!(
                c2.get(&["t", &format!("custom:k{i}")])
                    .and_then(Value::as_str),
                Some(*v),
                "{v}"
            );
        }
        let t = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        assert!(t.starts_with("# c\nkeep: 1\n"), "{t}");
    }

    #[test]
    fn edits_an_empty_or_comment_only_file() {
        let (d, mut c) = cfg("# only a comment\n");
        c.set(&["model", "default"], Value::String("m".into()))
            .unwrap();
        let t = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        assert!(t.starts_with("# only a comment\n"), "{t}");
        assert_eq!(
            Config::load(&Home::at(d.path())).unwrap().model_default(),
            Some("m")
        );
        let d2 = tempfile::tempdir().unwrap();
        let mut c = Config::load(&Home::at(d2.path())).unwrap();
        c.set(&["model", "default"], Value::String("m".into()))
            .unwrap();
        c.remove(&["model", "nothing", "here"]).unwrap();
        assert_eq!(
            Config::load(&Home::at(d2.path())).unwrap().model_default(),
            Some("m")
        );
    }

    #[test]
    fn set_keeps_other_keys() {
        let (d, mut c) = cfg("model:\n  default: m\nother: 1\n");
        c.set(
            &["credential_pool_strategies", "openrouter"],
            Value::String("round_robin".into()),
        )
        .unwrap();
        let c2 = Config::load(&Home::at(d.path())).unwrap();
        assert_eq!(c2.strategy_value("openrouter"), Some("round_robin"));
        assert_eq!(c2.model_default(), Some("m"));
        assert_eq!(c2.get(&["other"]).and_then(Value::as_u64), Some(1));
    }
}
