//! Auto-seeding: credentials the pool picks up from the environment, `.env`, config.yaml,
//! provider login state in `auth.json`, and other tools' credential files.
//!
//! Nothing here touches the network (the reference's Copilot token exchange and Z.AI endpoint
//! probes run during `auth list`; ours do not).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::entry::{AUTH_API_KEY, AUTH_OAUTH, PoolEntry};
use super::sanitize;
use crate::providers::{OPENROUTER, registry};
use crate::store::{AuthStore, Config, dotenv};

/// The environment as seeding sees it: the process env and `$HERMES_HOME/.env`.
#[derive(Debug, Clone, Default)]
pub struct EnvSource {
    process: HashMap<String, String>,
    dotenv: HashMap<String, String>,
}

impl EnvSource {
    pub fn from_process(home: &crate::home::Home) -> Self {
        Self {
            process: std::env::vars().collect(),
            dotenv: dotenv::read(&home.dotenv()),
        }
    }

    pub fn new(process: HashMap<String, String>, dotenv: HashMap<String, String>) -> Self {
        Self { process, dotenv }
    }

    /// The value of `var`: `.env` wins over the process env, except that an `op://` reference in
    /// `.env` yields to a process value. Trimmed; empty counts as unset.
    pub fn lookup(&self, var: &str) -> Option<String> {
        let d = self
            .dotenv
            .get(var)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let e = self
            .process
            .get(var)
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let v = if d.starts_with("op://") && !e.is_empty() {
            e
        } else if !d.is_empty() {
            d
        } else {
            e
        };
        Some(v).filter(|v| !v.is_empty())
    }

    pub fn in_process(&self, var: &str) -> bool {
        self.process.get(var).is_some_and(|v| !v.trim().is_empty())
    }
}

/// Everything seeding reads besides the store.
pub struct SeedInputs<'a> {
    pub env: &'a EnvSource,
    pub config: &'a Config,
    pub home: &'a crate::home::Home,
    pub user_home: Option<&'a PathBuf>,
}

/// Result of seeding one pool.
pub struct Seeded {
    pub changed: bool,
    pub active_sources: HashSet<String>,
}

fn max_priority(entries: &[PoolEntry]) -> i64 {
    entries.iter().map(|e| e.priority).max().unwrap_or(-1)
}

/// Inserts or updates the entry with `source`; duplicates of the source collapse to the first.
/// Returns whether the stored form changed.
pub fn upsert(
    entries: &mut Vec<PoolEntry>,
    pool_key: &str,
    source: &str,
    payload: &Map<String, Value>,
) -> bool {
    let mut changed = false;
    let mut first: Option<usize> = None;
    let mut i = 0;
    while i < entries.len() {
        if entries[i].source == source {
            if first.is_none() {
                first = Some(i);
            } else {
                entries.remove(i);
                changed = true;
                continue;
            }
        }
        i += 1;
    }
    match first {
        None => {
            let label = payload
                .get("label")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(source);
            let mut e = PoolEntry::new(label, AUTH_API_KEY, source);
            e.priority = max_priority(entries) + 1;
            for (k, v) in payload {
                if k != "id" && k != "priority" && k != "label" && !v.is_null() {
                    e.set_field(k, v);
                }
            }
            e.source = source.to_string();
            e.normalize_auth_type(pool_key);
            entries.push(e);
            true
        }
        Some(idx) => {
            let e = &mut entries[idx];
            let before = e.to_map(pool_key);
            for (k, v) in payload {
                if k == "id" || k == "priority" || v.is_null() {
                    continue;
                }
                if k == "label" && !e.label.is_empty() {
                    continue;
                }
                e.set_field(k, v);
            }
            e.normalize_auth_type(pool_key);
            changed || e.to_map(pool_key) != before
        }
    }
}

fn obj(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Seeds a built-in provider's pool (singleton state, then env vars), then prunes rows whose
/// borrowed source is gone, then re-ranks anthropic.
pub fn seed_provider(
    entries: &mut Vec<PoolEntry>,
    key: &str,
    store: &AuthStore,
    inp: &SeedInputs,
) -> Seeded {
    let mut changed = false;
    let mut active = HashSet::new();
    let suppressed: HashSet<String> = store.suppressed(key).into_iter().collect();

    changed |= seed_singletons(entries, key, store, inp, &suppressed, &mut active);

    // Env seeding.
    let provider = registry().get(key);
    let vars: Vec<String> = match provider {
        Some(p) if p.id == OPENROUTER => vec!["OPENROUTER_API_KEY".into()],
        Some(p) if p.env_seeded() => p.seed_env_vars.clone(),
        _ => vec![],
    };
    if let Some(p) = provider {
        for var in &vars {
            let Some(value) = inp.env.lookup(var) else {
                continue;
            };
            let source = format!("env:{var}");
            if suppressed.contains(&source) {
                continue;
            }
            let override_url = p.base_url_env.as_deref().and_then(|v| inp.env.lookup(v));
            let base_url = override_url
                .map(|u| u.trim_end_matches('/').to_string())
                .or_else(|| {
                    p.key_prefix_base_urls
                        .iter()
                        .find(|(pre, _)| value.starts_with(pre.as_str()))
                        .map(|(_, u)| u.clone())
                })
                .unwrap_or_else(|| p.default_base_url.clone());
            let auth = if key == "anthropic" && value.starts_with("sk-ant-oat") {
                AUTH_OAUTH
            } else {
                AUTH_API_KEY
            };
            let payload = obj(&[
                ("auth_type", json!(auth)),
                ("access_token", json!(value)),
                ("label", json!(var)),
                ("base_url", json!(base_url)),
            ]);
            changed |= upsert(entries, key, &source, &payload);
            active.insert(source);
        }
    }

    changed |= prune(entries, key, &active, false);
    if key == "anthropic" {
        changed |= rerank_anthropic(entries);
    }
    Seeded {
        changed,
        active_sources: active,
    }
}

/// Seeds `custom:<name>` from config (`config:<name>` and `model_config`), then prunes.
pub fn seed_custom(
    entries: &mut Vec<PoolEntry>,
    key: &str,
    store: &AuthStore,
    inp: &SeedInputs,
) -> Seeded {
    let mut changed = false;
    let mut active = HashSet::new();
    if let Some(cp) = inp.config.custom_provider(key) {
        let source = format!("config:{}", cp.name);
        if let Some(k) = cp.api_key.as_deref().filter(|k| !k.is_empty())
            && !store.is_suppressed(key, &source)
        {
            let payload = obj(&[
                ("auth_type", json!(AUTH_API_KEY)),
                ("access_token", json!(k)),
                ("base_url", json!(cp.base_url.trim_end_matches('/'))),
                ("label", json!(cp.name)),
            ]);
            changed |= upsert(entries, key, &source, &payload);
            active.insert(source);
        }
    }
    let c = inp.config;
    if c.model_provider().map(|p| p.to_lowercase()).as_deref() == Some("custom")
        && let (Some(url), Some(k)) = (c.model_base_url(), c.model_api_key())
        && c.custom_pool_key_for_url(url, None).as_deref() == Some(key)
        && !store.is_suppressed(key, "model_config")
    {
        let payload = obj(&[
            ("auth_type", json!(AUTH_API_KEY)),
            ("access_token", json!(k)),
            ("base_url", json!(url.trim_end_matches('/'))),
            ("label", json!("model_config")),
        ]);
        changed |= upsert(entries, key, "model_config", &payload);
        active.insert("model_config".to_string());
    }
    changed |= prune(entries, key, &active, true);
    Seeded {
        changed,
        active_sources: active,
    }
}

/// Drops seeded rows whose source was not seeded in this load. `env:` rows of built-in pools
/// are kept (a process without the variable must not delete them for the others).
fn prune(
    entries: &mut Vec<PoolEntry>,
    key: &str,
    active: &HashSet<String>,
    env_prune: bool,
) -> bool {
    let before = entries.len();
    entries.retain(|e| {
        if e.is_manual() || active.contains(&e.source) {
            return true;
        }
        let prunable = if e.source.starts_with("env:") {
            env_prune
        } else {
            sanitize::is_borrowed(key, &e.source) || e.source == "hermes_pkce"
        };
        !prunable
    });
    entries.len() != before
}

fn anthropic_rank(source: &str) -> i32 {
    match source {
        "env:ANTHROPIC_TOKEN" => 0,
        "env:CLAUDE_CODE_OAUTH_TOKEN" => 1,
        "hermes_pkce" => 2,
        "claude_code" => 3,
        "env:ANTHROPIC_API_KEY" => 4,
        _ => 5,
    }
}

fn rerank_anthropic(entries: &mut Vec<PoolEntry>) -> bool {
    let mut manual: Vec<PoolEntry> = entries.iter().filter(|e| e.is_manual()).cloned().collect();
    manual.sort_by_key(|e| e.priority);
    let mut seeded: Vec<PoolEntry> = entries.iter().filter(|e| !e.is_manual()).cloned().collect();
    seeded.sort_by(|a, b| {
        (anthropic_rank(&a.source), a.priority, &a.label).cmp(&(
            anthropic_rank(&b.source),
            b.priority,
            &b.label,
        ))
    });
    let mut changed = false;
    let mut out: Vec<PoolEntry> = manual.into_iter().chain(seeded).collect();
    for (i, e) in out.iter_mut().enumerate() {
        if e.priority != i as i64 {
            e.priority = i as i64;
            changed = true;
        }
    }
    let reordered = out.iter().map(|e| &e.id).ne(entries.iter().map(|e| &e.id));
    *entries = out;
    changed || reordered
}

const PLACEHOLDERS: &[&str] = &[
    "*",
    "***",
    "changeme",
    "your_api_key",
    "your-api-key",
    "placeholder",
    "dummy",
    "none",
    "null",
    "xxx",
    "todo",
];

fn usable_key(v: Option<String>) -> bool {
    v.is_some_and(|v| v.len() >= 4 && !PLACEHOLDERS.contains(&v.to_lowercase().as_str()))
}

fn read_json(path: &std::path::Path) -> Option<Map<String, Value>> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A singleton login's label: the stored one, else the token's email claim, else `default`.
fn singleton_label(state: &Map<String, Value>, access_token: &str, default: &str) -> String {
    str_of(state, "label")
        .map(str::to_string)
        .or_else(|| crate::jwt::label(access_token))
        .unwrap_or_else(|| default.to_string())
}

fn seed_singletons(
    entries: &mut Vec<PoolEntry>,
    key: &str,
    store: &AuthStore,
    inp: &SeedInputs,
    suppressed: &HashSet<String>,
    active: &mut HashSet<String>,
) -> bool {
    let mut changed = false;
    let mut seed = |entries: &mut Vec<PoolEntry>, source: &str, payload: Map<String, Value>| {
        if suppressed.contains(source) {
            return false;
        }
        active.insert(source.to_string());
        upsert(entries, key, source, &payload)
    };
    match key {
        "anthropic" => {
            let env = inp.env;
            let configured = store.active_provider() == Some("anthropic")
                || inp.config.model_provider() == Some("anthropic")
                || usable_key(
                    env.process
                        .get("ANTHROPIC_API_KEY")
                        .map(|s| s.trim().to_string()),
                )
                || usable_key(
                    env.process
                        .get("ANTHROPIC_TOKEN")
                        .map(|s| s.trim().to_string()),
                )
                || entries.iter().any(|e| {
                    e.is_manual()
                        || matches!(
                            e.source.as_str(),
                            "device_code" | "loopback_pkce" | "hermes_pkce"
                        )
                        || e.source
                            .strip_prefix("env:")
                            .is_some_and(|v| usable_key(env.lookup(v)))
                });
            if !configured {
                return false;
            }
            let api_key_path = env.lookup("ANTHROPIC_API_KEY").is_some()
                && env.lookup("ANTHROPIC_TOKEN").is_none()
                && env.lookup("CLAUDE_CODE_OAUTH_TOKEN").is_none();
            if api_key_path {
                let before = entries.len();
                entries.retain(|e| e.source != "hermes_pkce" && e.source != "claude_code");
                return entries.len() != before;
            }
            let files: [(&str, Option<Map<String, Value>>); 2] = [
                ("hermes_pkce", read_json(&inp.home.anthropic_oauth_json())),
                (
                    "claude_code",
                    inp.user_home
                        .and_then(|h| read_json(&h.join(".claude/.credentials.json")))
                        .and_then(|m| m.get("claudeAiOauth").and_then(Value::as_object).cloned()),
                ),
            ];
            for (source, data) in files {
                let Some(d) = data else { continue };
                let Some(at) = str_of(&d, "accessToken") else {
                    continue;
                };
                let label = crate::jwt::label(at).unwrap_or_else(|| source.to_string());
                let payload = obj(&[
                    ("auth_type", json!(AUTH_OAUTH)),
                    ("access_token", json!(at)),
                    (
                        "refresh_token",
                        d.get("refreshToken").cloned().unwrap_or(Value::Null),
                    ),
                    (
                        "expires_at_ms",
                        d.get("expiresAt").cloned().unwrap_or(Value::Null),
                    ),
                    ("label", json!(label)),
                ]);
                changed |= seed(entries, source, payload);
            }
        }
        "nous" => {
            let Some(state) = store.provider_state("nous") else {
                return false;
            };
            if str_of(state, "access_token").is_none() && str_of(state, "agent_key").is_none() {
                let before = entries.len();
                entries.retain(|e| e.source != "device_code" && e.source != "manual:device_code");
                return entries.len() != before;
            }
            let label = singleton_label(
                state,
                str_of(state, "access_token").unwrap_or(""),
                "device_code",
            );
            let mut payload = Map::new();
            payload.insert("auth_type".into(), json!(AUTH_OAUTH));
            for k in [
                "access_token",
                "refresh_token",
                "expires_at",
                "token_type",
                "scope",
                "client_id",
                "portal_base_url",
                "inference_base_url",
                "agent_key",
                "agent_key_expires_at",
                "obtained_at",
                "expires_in",
                "agent_key_id",
                "agent_key_expires_in",
                "agent_key_reused",
                "agent_key_obtained_at",
            ] {
                if let Some(v) = state.get(k).filter(|v| !v.is_null()) {
                    payload.insert(k.into(), v.clone());
                }
            }
            if let Some(tls) = state.get("tls").filter(|v| v.is_object()) {
                payload.insert("tls".into(), tls.clone());
            }
            payload.insert("label".into(), json!(label));
            changed |= seed(entries, "device_code", payload);
        }
        "openai-codex" | "xai-oauth" => {
            let Some(state) = store.provider_state(key) else {
                return false;
            };
            let Some(tokens) = state.get("tokens").and_then(Value::as_object) else {
                return false;
            };
            let Some(at) = str_of(tokens, "access_token") else {
                return false;
            };
            let base = if key == "openai-codex" {
                "https://chatgpt.com/backend-api/codex"
            } else {
                "https://api.x.ai/v1"
            };
            let label = singleton_label(state, at, "device_code");
            let payload = obj(&[
                ("auth_type", json!(AUTH_OAUTH)),
                ("access_token", json!(at)),
                (
                    "refresh_token",
                    tokens.get("refresh_token").cloned().unwrap_or(Value::Null),
                ),
                ("base_url", json!(base)),
                (
                    "last_refresh",
                    state.get("last_refresh").cloned().unwrap_or(Value::Null),
                ),
                ("label", json!(label)),
            ]);
            changed |= seed(entries, "device_code", payload);
        }
        "minimax-oauth" => {
            let Some(state) = store.provider_state(key) else {
                return false;
            };
            let Some(at) = str_of(state, "access_token") else {
                return false;
            };
            let expires_ms = str_of(state, "expires_at")
                .and_then(crate::timefmt::parse_iso)
                .map(|s| (s * 1000.0) as i64);
            let label = singleton_label(state, at, "oauth");
            let payload = obj(&[
                ("auth_type", json!(AUTH_OAUTH)),
                ("access_token", json!(at)),
                (
                    "refresh_token",
                    state.get("refresh_token").cloned().unwrap_or(Value::Null),
                ),
                (
                    "expires_at_ms",
                    expires_ms.map_or(Value::Null, |v| json!(v)),
                ),
                (
                    "base_url",
                    str_of(state, "inference_base_url")
                        .map_or(Value::Null, |u| json!(u.trim_end_matches('/'))),
                ),
                ("label", json!(label)),
            ]);
            changed |= seed(entries, "oauth", payload);
        }
        "qwen-oauth" => {
            let Some(path) = inp.user_home.map(|h| h.join(".qwen/oauth_creds.json")) else {
                return false;
            };
            let Some(creds) = read_json(&path) else {
                return false;
            };
            let Some(at) = str_of(&creds, "access_token") else {
                return false;
            };
            let base = str_of(&creds, "resource_url")
                .map(|r| {
                    let r = if r.starts_with("http") {
                        r.to_string()
                    } else {
                        format!("https://{r}")
                    };
                    let r = r.trim_end_matches('/').to_string();
                    if r.ends_with("/v1") {
                        r
                    } else {
                        format!("{r}/v1")
                    }
                })
                .or_else(|| {
                    store
                        .provider_state(key)
                        .and_then(|s| str_of(s, "base_url"))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "https://portal.qwen.ai/v1".into());
            let payload = obj(&[
                ("auth_type", json!(AUTH_OAUTH)),
                ("access_token", json!(at)),
                (
                    "expires_at_ms",
                    creds.get("expiry_date").cloned().unwrap_or(Value::Null),
                ),
                ("base_url", json!(base)),
                ("label", json!(path.display().to_string())),
            ]);
            changed |= seed(entries, "qwen-cli", payload);
        }
        _ => {}
    }
    changed
}
