//! Model lists: `GET <base>/models` with the provider's credential (short timeout), cached per
//! provider in `$HERMES_HOME/cache/models/<provider>.json` for an hour, and the built-in lists
//! when the network fails.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::home::Home;
use crate::store::atomic;

/// How long a cached list is used without asking the provider again.
pub const CACHE_TTL_SECS: f64 = 3600.0;
/// Default bound on one `/models` request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSource {
    /// Fetched from the provider just now.
    Live,
    /// Fetched within the last hour (the cache file).
    Cache,
    /// The network failed; an older cached list.
    StaleCache,
    /// The built-in list.
    Offline,
    /// Nothing known.
    None,
}

impl ListSource {
    /// Whether the list is the provider's own (a model not in it is likely a typo).
    pub fn authoritative(self) -> bool {
        matches!(self, Self::Live | Self::Cache)
    }
}

#[derive(Debug, Clone)]
pub struct ModelList {
    pub models: Vec<String>,
    pub source: ListSource,
    /// Why the live fetch failed (no secrets in it).
    pub error: Option<String>,
}

/// What to fetch.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    /// Pool key (`deepseek`, `custom:local`): names the cache file.
    pub provider: &'a str,
    /// OpenAI-compatible base URL; `None` = do not ask the network.
    pub base_url: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub offline: &'a [&'a str],
    /// Ignore (and rewrite) the cache.
    pub refresh: bool,
    pub timeout: Duration,
}

fn cache_file(home: &Home, provider: &str) -> PathBuf {
    let safe: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    home.dir()
        .join("cache")
        .join("models")
        .join(format!("{safe}.json"))
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn norm_url(u: &str) -> String {
    u.trim().trim_end_matches('/').to_lowercase()
}

/// Reads the cache: `(models, age in seconds)` when it is for this base URL.
fn read_cache(home: &Home, provider: &str, base_url: &str) -> Option<(Vec<String>, f64)> {
    let text = std::fs::read_to_string(cache_file(home, provider)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    if norm_url(v.get("base_url")?.as_str()?) != norm_url(base_url) {
        return None;
    }
    let at = v.get("fetched_at")?.as_f64()?;
    let models: Vec<String> = v
        .get("models")?
        .as_array()?
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    Some((models, now_secs() - at))
}

fn write_cache(home: &Home, provider: &str, base_url: &str, models: &[String]) {
    let path = cache_file(home, provider);
    if let Some(dir) = path.parent()
        && atomic::ensure_private_dir(dir).is_err()
    {
        return;
    }
    let body = json!({
        "schema": 1,
        "provider": provider,
        "base_url": base_url.trim().trim_end_matches('/'),
        "fetched_at": now_secs(),
        "models": models,
    });
    let _ = atomic::write_atomic(
        &path,
        serde_json::to_string_pretty(&body)
            .unwrap_or_default()
            .as_bytes(),
        0o600,
    );
}

/// Ids from an OpenAI-style `{"data": [{"id": …}]}` (or `{"models": […]}`, or a bare list).
pub fn parse_model_ids(v: &Value) -> Vec<String> {
    let list = v
        .get("data")
        .or_else(|| v.get("models"))
        .unwrap_or(v)
        .as_array();
    let mut out: Vec<String> = Vec::new();
    for item in list.into_iter().flatten() {
        let id = item
            .as_str()
            .or_else(|| item.get("id").and_then(Value::as_str))
            .or_else(|| item.get("name").and_then(Value::as_str));
        if let Some(id) = id.map(str::trim).filter(|s| !s.is_empty())
            && !out.iter().any(|x| x == id)
        {
            out.push(id.to_string());
        }
    }
    out
}

/// `GET <base>/models` with `Authorization: Bearer <key>`. Errors carry no secrets.
pub fn fetch_models(
    base_url: &str,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let url = format!("{}/models", base_url.trim().trim_end_matches('/'));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("hermes-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    rt.block_on(async {
        let mut req = client.get(&url);
        if let Some(k) = api_key.filter(|k| !k.is_empty()) {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{url} answered HTTP {}", status.as_u16()));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|_| format!("{url} did not answer with a JSON model list"))?;
        let ids = parse_model_ids(&v);
        if ids.is_empty() {
            return Err(format!("{url} listed no models"));
        }
        Ok(ids)
    })
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The model list for a provider: a fresh cache, else the provider, else a stale cache, else the
/// built-in list.
pub fn list_models(home: &Home, req: &FetchRequest<'_>) -> ModelList {
    let offline = || {
        req.offline
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let Some(base) = req.base_url.filter(|b| !b.trim().is_empty()) else {
        let models = offline();
        let source = if models.is_empty() {
            ListSource::None
        } else {
            ListSource::Offline
        };
        return ModelList {
            models,
            source,
            error: None,
        };
    };
    let cached = read_cache(home, req.provider, base);
    if !req.refresh
        && let Some((models, age)) = &cached
        && *age >= 0.0
        && *age < CACHE_TTL_SECS
        && !models.is_empty()
    {
        return ModelList {
            models: models.clone(),
            source: ListSource::Cache,
            error: None,
        };
    }
    match fetch_models(base, req.api_key, req.timeout) {
        Ok(models) => {
            write_cache(home, req.provider, base, &models);
            ModelList {
                models,
                source: ListSource::Live,
                error: None,
            }
        }
        Err(e) => {
            if let Some((models, _)) = cached.filter(|(m, _)| !m.is_empty()) {
                return ModelList {
                    models,
                    source: ListSource::StaleCache,
                    error: Some(e),
                };
            }
            let models = offline();
            let source = if models.is_empty() {
                ListSource::None
            } else {
                ListSource::Offline
            };
            ModelList {
                models,
                source,
                error: Some(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_and_other_shapes() {
        let v = json!({"data": [{"id": "a"}, {"id": "b"}, {"id": "a"}]});
        assert_eq!(parse_model_ids(&v), ["a", "b"]);
        assert_eq!(parse_model_ids(&json!({"models": ["x"]})), ["x"]);
        assert!(parse_model_ids(&json!({"error": "no"})).is_empty());
    }

    #[test]
    fn unreachable_falls_back_to_offline_then_cache() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::at(d.path());
        let req = FetchRequest {
            provider: "deepseek",
            base_url: Some("http://127.0.0.1:1/v1"),
            api_key: Some("k"),
            offline: &["m1", "m2"],
            refresh: false,
            timeout: Duration::from_secs(2),
        };
        let l = list_models(&home, &req);
        assert_eq!(l.source, ListSource::Offline);
        assert_eq!(l.models, ["m1", "m2"]);
        assert!(l.error.is_some());
        write_cache(&home, "deepseek", "http://127.0.0.1:1/v1/", &["c1".into()]);
        assert_eq!(list_models(&home, &req).source, ListSource::Cache);
        let refresh = FetchRequest {
            refresh: true,
            ..req.clone()
        };
        let l = list_models(&home, &refresh);
        assert_eq!(l.source, ListSource::StaleCache);
        assert_eq!(l.models, ["c1"]);
    }
}
