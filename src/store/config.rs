//! `config.yaml`: the keys provider auth reads (`model.*`, `custom_providers`, `providers`,
//! `credential_pool_strategies`). Writes change only the keys they are about; everything else
//! in the file is kept.

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
        Ok(Self { path, root })
    }

    pub fn empty(home: &Home) -> Self {
        Self {
            path: home.config_yaml(),
            root: Value::Mapping(Mapping::new()),
        }
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
    /// (0600). Other keys are kept.
    pub fn set(&mut self, path: &[&str], value: Value) -> Result<(), StoreError> {
        if !self.root.is_mapping() {
            self.root = Value::Mapping(Mapping::new());
        }
        let mut cur = &mut self.root;
        for (i, k) in path.iter().enumerate() {
            let map = cur.as_mapping_mut().expect("mapping");
            if i + 1 == path.len() {
                map.insert(Value::String((*k).to_string()), value);
                break;
            }
            let next = map
                .entry(Value::String((*k).to_string()))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if !next.is_mapping() {
                *next = Value::Mapping(Mapping::new());
            }
            cur = next;
        }
        self.write()
    }

    fn write(&self) -> Result<(), StoreError> {
        if let Some(dir) = self.path.parent() {
            atomic::ensure_private_dir(dir)?;
        }
        let text = serde_yaml::to_string(&self.root).map_err(|e| StoreError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        atomic::write_atomic(&self.path, text.as_bytes(), 0o600)
    }
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
