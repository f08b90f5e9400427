//! `hermes model` as a library: which providers exist and which have credentials, where a
//! provider's models come from, and what choosing a provider and model writes
//! (`config.yaml` `model.*`, `auth.json` `active_provider`, `$HERMES_HOME/.env`).
//!
//! Nothing here prompts; the terminal flows live in `cli::model` and call into this module.

pub mod catalog;
pub mod fetch;

use std::time::Duration;

use serde_yaml::Value as Yaml;

use crate::pool::{CredentialPool, PoolContext, PoolError};
use crate::providers::{AuthKind, Provider, Wire, registry};
use crate::store::config::{CustomProvider, Edit, normalize_custom_name};
use crate::store::{AuthStore, Config, StoreError, StoreLock, atomic, dotenv};

pub use fetch::{FetchRequest, ListSource, ModelList};

/// The reference's config schema version; written when absent so it does not migrate our file.
pub const CONFIG_VERSION: i64 = 33;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("Unknown provider: {0}")]
    UnknownProvider(String),
    #[error("{0}")]
    Invalid(String),
}

/// Whether a provider can be chosen here (the AWS SDK and external-process providers configure
/// an agent runtime this binary does not contain).
pub fn selectable(p: &Provider) -> bool {
    !matches!(p.auth, AuthKind::AwsSdk | AuthKind::ExternalProcess)
}

/// Whether the provider signs in with OAuth (its flow is `hermes auth add <p> --type oauth`).
pub fn is_oauth(p: &Provider) -> bool {
    matches!(
        p.auth,
        AuthKind::OAuthDeviceCode | AuthKind::OAuthExternal | AuthKind::OAuthMinimax
    )
}

/// What credentials a provider has, read without any network call or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredState {
    /// An API key in `.env` / the environment: (variable, value).
    EnvKey(String, String),
    /// A login or pooled credentials in `auth.json` (count).
    Stored(usize),
    None,
}

impl CredState {
    pub fn ready(&self) -> bool {
        !matches!(self, Self::None)
    }
}

pub fn cred_state(ctx: &PoolContext, store: &AuthStore, key: &str) -> CredState {
    if let Some(p) = registry().get(key) {
        for var in &p.api_key_env_vars {
            if let Some(v) = ctx.env.lookup(var) {
                return CredState::EnvKey(var.clone(), v);
            }
        }
    }
    let n = store.pool_entries(key).len();
    if n > 0 {
        return CredState::Stored(n);
    }
    if store.provider_state(key).is_some_and(|s| {
        ["access_token", "agent_key", "api_key"].iter().any(|f| {
            s.get(*f)
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty())
        })
    }) {
        return CredState::Stored(1);
    }
    CredState::None
}

/// One row of the provider picker.
#[derive(Debug, Clone)]
pub enum RowKind {
    Provider(String),
    Group { title: String, members: Vec<String> },
    SavedCustom(CustomProvider),
    NewCustom,
    RemoveCustom,
    Leave,
}

#[derive(Debug, Clone)]
pub struct PickerRow {
    pub text: String,
    pub kind: RowKind,
    /// Some member (or the provider) has credentials.
    pub ready: bool,
    pub active: bool,
}

/// The active provider as `config.yaml` names it (`custom` resolved to the saved entry's key).
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub model: Option<String>,
    /// A pool key: a registry id, or `custom:<name>` for a saved custom provider.
    pub provider: Option<String>,
    pub label: String,
    pub base_url: Option<String>,
    /// `model.provider` names nothing we know.
    pub unknown: Option<String>,
    /// With no `model.provider`: the provider the agent would fall back to, and why
    /// (`auth.json` `active_provider`, else the first provider whose API key is set).
    pub detected: Option<(String, String)>,
}

pub fn current(ctx: &PoolContext) -> Current {
    let c = &ctx.config;
    let model = c
        .model_default()
        .map(str::to_string)
        .or_else(|| c.get_str(&["model"]).map(str::to_string));
    let base_url = c.model_base_url().map(str::to_string);
    let raw = c.model_provider().map(str::to_lowercase);
    let mut out = Current {
        model,
        base_url: base_url.clone(),
        label: "none".into(),
        ..Current::default()
    };
    match raw.as_deref() {
        None | Some("auto") | Some("") => {}
        Some("custom") => {
            let want = base_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_lowercase());
            if let Some(cp) = c
                .custom_providers()
                .into_iter()
                .find(|cp| Some(cp.base_url.trim_end_matches('/').to_lowercase()) == want)
            {
                out.label = cp.name.clone();
                out.provider = Some(cp.pool_key());
            } else {
                out.label = "Custom endpoint".into();
                out.provider = Some("custom".into());
            }
        }
        Some(p) => {
            let key = crate::providers::normalize_provider(p, c);
            if let Some(reg) = registry().get(&key) {
                out.label = reg.display_name.clone();
                out.provider = Some(reg.id.clone());
            } else if let Some(cp) = c.custom_provider(&key) {
                out.label = cp.name.clone();
                out.provider = Some(key);
            } else {
                out.unknown = Some(p.to_string());
            }
        }
    }
    if out.provider.is_none() {
        out.detected = detect_provider(ctx);
        if let Some((id, why)) = &out.detected
            && let Some(p) = registry().get(id)
        {
            out.label = format!("{} (detected from {why})", p.display_name);
        }
    }
    out
}

/// The provider used when config names none: a logged-in `active_provider`, else the first
/// picker provider with an API key in `.env` / the environment. No network.
fn detect_provider(ctx: &PoolContext) -> Option<(String, String)> {
    if let Ok(store) = AuthStore::load(&ctx.home)
        && let Some(a) = store.active_provider()
        && registry().get(a).is_some()
    {
        return Some((a.to_string(), "auth.json".into()));
    }
    for (key, _) in catalog::PICKER_ROWS {
        let Some(p) = registry().get(key) else {
            continue;
        };
        if p.auth != AuthKind::ApiKey || p.id == "lmstudio" || p.id == "copilot" {
            continue;
        }
        if let Some(var) = p
            .api_key_env_vars
            .iter()
            .find(|v| ctx.env.lookup(v).is_some())
        {
            return Some((p.id.clone(), var.clone()));
        }
    }
    None
}

/// `host[:port]/path` of a URL without the scheme and trailing `/`.
pub fn short_url(u: &str) -> String {
    let t = u.trim().trim_end_matches('/');
    t.strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .unwrap_or(t)
        .to_string()
}

/// The provider picker's rows: registry providers (groups folded), saved custom providers, the
/// custom endpoint row, removal, and "Leave unchanged".
pub fn picker_rows(ctx: &PoolContext) -> Vec<PickerRow> {
    let store = AuthStore::load(&ctx.home).unwrap_or_else(|_| AuthStore::empty(&ctx.home));
    let cur = current(ctx);
    let reg = registry();
    let mut rows: Vec<PickerRow> = Vec::new();
    let mut done_groups: Vec<&str> = Vec::new();
    for (key, text) in catalog::PICKER_ROWS {
        let Some(p) = reg.get(key) else { continue };
        if !selectable(p) {
            continue;
        }
        if let Some((gtext, gtitle, members)) =
            catalog::GROUPS.iter().find(|(_, _, m)| m.contains(key))
        {
            if done_groups.contains(gtext) {
                continue;
            }
            done_groups.push(gtext);
            let present: Vec<String> = members
                .iter()
                .filter(|m| reg.get(m).is_some_and(selectable))
                .map(|m| m.to_string())
                .collect();
            if present.len() > 1 {
                rows.push(PickerRow {
                    text: gtext.to_string(),
                    ready: present.iter().any(|m| cred_state(ctx, &store, m).ready()),
                    active: cur.provider.as_ref().is_some_and(|c| present.contains(c)),
                    kind: RowKind::Group {
                        title: gtitle.to_string(),
                        members: present,
                    },
                });
                continue;
            }
        }
        rows.push(PickerRow {
            text: text.to_string(),
            ready: cred_state(ctx, &store, key).ready(),
            active: cur.provider.as_deref() == Some(*key),
            kind: RowKind::Provider(key.to_string()),
        });
    }
    let saved = ctx.config.custom_providers();
    for cp in &saved {
        if cp.base_url.is_empty() {
            continue;
        }
        let mut text = format!("{} ({})", cp.name, short_url(&cp.base_url));
        if let Some(m) = saved_model(&ctx.config, cp) {
            text.push_str(&format!(" — {m}"));
        }
        rows.push(PickerRow {
            text,
            ready: true,
            active: cur.provider.as_deref() == Some(cp.pool_key().as_str()),
            kind: RowKind::SavedCustom(cp.clone()),
        });
    }
    rows.push(PickerRow {
        text: "Custom endpoint (enter URL manually)".into(),
        ready: false,
        active: cur.provider.as_deref() == Some("custom"),
        kind: RowKind::NewCustom,
    });
    if saved.iter().any(|c| c.provider_key.is_none()) {
        rows.push(PickerRow {
            text: "Remove a saved custom provider".into(),
            ready: false,
            active: false,
            kind: RowKind::RemoveCustom,
        });
    }
    rows.push(PickerRow {
        text: "Leave unchanged".into(),
        ready: false,
        active: false,
        kind: RowKind::Leave,
    });
    rows
}

/// The `model` saved with a custom provider entry.
pub fn saved_model(config: &Config, cp: &CustomProvider) -> Option<String> {
    if let Some(k) = &cp.provider_key {
        return config
            .get_str(&["providers", k, "default_model"])
            .map(str::to_string);
    }
    custom_entries(config)
        .into_iter()
        .find(|m| entry_name(m).map(normalize_custom_name) == Some(normalize_custom_name(&cp.name)))
        .and_then(|m| m.get("model").and_then(Yaml::as_str).map(str::to_string))
}

fn custom_entries(config: &Config) -> Vec<serde_yaml::Mapping> {
    config
        .get(&["custom_providers"])
        .and_then(Yaml::as_sequence)
        .map(|s| s.iter().filter_map(|v| v.as_mapping().cloned()).collect())
        .unwrap_or_default()
}

fn entry_name(m: &serde_yaml::Mapping) -> Option<&str> {
    m.get("name").and_then(Yaml::as_str).map(str::trim)
}

/// The base URL a provider's requests go to: its base-URL env var, else `model.base_url` when
/// it is the configured provider, else the registry default.
pub fn effective_base_url(ctx: &PoolContext, p: &Provider) -> String {
    if let Some(var) = &p.base_url_env
        && let Some(v) = ctx.env.lookup(var)
    {
        return v;
    }
    if ctx.config.model_provider() == Some(p.id.as_str())
        && let Some(u) = ctx.config.model_base_url()
    {
        return u.to_string();
    }
    // A key with a known prefix selects its own endpoint (Kimi Coding Plan `sk-kimi-` keys).
    if let Some(key) = p.api_key_env_vars.iter().find_map(|v| ctx.env.lookup(v))
        && let Some((_, url)) = p
            .key_prefix_base_urls
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
    {
        return url.clone();
    }
    // An OAuth login may name its own inference URL (Nous Portal).
    if is_oauth(p)
        && let Ok(store) = AuthStore::load(&ctx.home)
        && let Some(u) = store.provider_state(&p.id).and_then(|s| {
            ["inference_base_url", "base_url"]
                .iter()
                .find_map(|f| s.get(*f).and_then(|v| v.as_str()))
                .filter(|u| u.starts_with("http"))
                .map(str::to_string)
        })
    {
        return u.trim_end_matches('/').to_string();
    }
    p.default_base_url.clone()
}

/// The credential `hermes model` uses to list a provider's models: the pool's next entry.
pub fn pool_credential(ctx: &PoolContext, key: &str) -> Option<String> {
    let mut pool = CredentialPool::load(ctx, key).ok()?;
    let e = pool.peek().ok()??;
    Some(e.runtime_api_key(key, ctx.now())).filter(|k| !k.is_empty())
}

/// Timeout for one model-list request (`HERMES_MODEL_LIST_TIMEOUT` seconds, default 5).
pub fn fetch_timeout() -> Duration {
    std::env::var(crate::envvars::HERMES_MODEL_LIST_TIMEOUT)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map_or(fetch::DEFAULT_TIMEOUT, Duration::from_secs_f64)
}

/// A registry provider's model list (the live list needs an OpenAI-compatible API and a
/// credential; others use the built-in list).
///
/// `key_override` is a key typed in this session and not saved yet.
pub fn provider_models(
    ctx: &PoolContext,
    p: &Provider,
    base_override: Option<&str>,
    key_override: Option<&str>,
    refresh: bool,
) -> ModelList {
    let base = base_override
        .map(str::to_string)
        .unwrap_or_else(|| effective_base_url(ctx, p));
    let key = if p.wire == Wire::OpenAi && !base.is_empty() {
        key_override
            .map(str::to_string)
            .or_else(|| pool_credential(ctx, &p.id))
    } else {
        None
    };
    let offline_key =
        if p.id == "kimi-coding" && key.as_deref().is_some_and(|k| !k.starts_with("sk-kimi-")) {
            "moonshot"
        } else {
            p.id.as_str()
        };
    let req = FetchRequest {
        provider: &p.id,
        base_url: key.as_ref().map(|_| base.as_str()),
        api_key: key.as_deref(),
        offline: catalog::offline_models(offline_key),
        refresh,
        timeout: fetch_timeout(),
    };
    fetch::list_models(&ctx.home, &req)
}

/// A custom endpoint's model list (asked without a key when it has none).
pub fn custom_models(ctx: &PoolContext, cp: &CustomProvider, refresh: bool) -> ModelList {
    let key = cp
        .api_key
        .clone()
        .filter(|k| !k.contains("${"))
        .or_else(|| pool_credential(ctx, &cp.pool_key()));
    let pk = cp.pool_key();
    let req = FetchRequest {
        provider: &pk,
        base_url: Some(&cp.base_url),
        api_key: key.as_deref(),
        offline: &[],
        refresh,
        timeout: fetch_timeout(),
    };
    fetch::list_models(&ctx.home, &req)
}

/// Sets (or replaces) `VAR=value` in `$HERMES_HOME/.env`, keeping other lines; 0600.
pub fn set_env_var(ctx: &PoolContext, var: &str, value: &str) -> Result<(), StoreError> {
    let path = ctx.home.dotenv();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = String::with_capacity(text.len() + var.len() + value.len() + 2);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        let is_var = t.split_once('=').is_some_and(|(k, _)| k.trim() == var);
        if is_var {
            if !replaced {
                out.push_str(&format!("{var}={value}\n"));
                replaced = true;
            }
        } else {
            out.push_str(line);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{var}={value}\n"));
    }
    atomic::ensure_private_dir(ctx.home.dir())?;
    atomic::write_atomic(&path, out.as_bytes(), 0o600)
}

/// Deletes `VAR` from `.env` (the reference writes `VAR=`, which then hides a shell export).
pub fn clear_env_var(ctx: &PoolContext, var: &str) -> Result<bool, StoreError> {
    dotenv::remove_var(&ctx.home.dotenv(), var)
}

/// Applies `edits` to config.yaml and sets `active_provider` in auth.json. The store
/// is read (under its lock) before config.yaml is touched, so an auth.json that cannot be read
/// stops the save with nothing written.
fn apply_and_set_active(
    ctx: &PoolContext,
    config: &mut Config,
    edits: &[Edit],
    id: Option<&str>,
) -> Result<(), StoreError> {
    atomic::ensure_private_dir(ctx.home.dir())?;
    let lock = StoreLock::acquire(&ctx.home)?;
    let mut store = AuthStore::load_locked(&lock)?;
    config.apply(edits)?;
    if store.existed() && store.active_provider() == id {
        return Ok(());
    }
    store.set_active_provider(id);
    store.save(&lock)
}

fn version_edit(config: &Config) -> Option<Edit> {
    config
        .get(&["_config_version"])
        .is_none()
        .then(|| Edit::set(&["_config_version"], Yaml::from(CONFIG_VERSION)))
}

/// What a save printed-worthy did besides the obvious.
#[derive(Debug, Default)]
pub struct SaveNotes {
    /// `OPENAI_BASE_URL` was removed from `.env` (its old value).
    pub cleared_openai_base_url: Option<String>,
}

/// Saves a registry provider and model (§6.9): `model.default/provider/base_url`, drops
/// `model.api_key`/`api`/`api_mode` (OpenRouter: `api_mode: chat_completions`; Anthropic: no
/// `base_url`), and `active_provider` (the provider for OAuth logins, else null).
pub fn save_provider_choice(
    ctx: &PoolContext,
    config: &mut Config,
    p: &Provider,
    model: &str,
    base_url: &str,
) -> Result<SaveNotes, ModelError> {
    let mut edits = vec![
        Edit::set(&["model", "default"], model),
        Edit::set(&["model", "provider"], p.id.as_str()),
        Edit::remove(&["model", "api_key"]),
        Edit::remove(&["model", "api"]),
    ];
    if p.id == "anthropic" || base_url.is_empty() {
        edits.push(Edit::remove(&["model", "base_url"]));
    } else {
        edits.push(Edit::set(
            &["model", "base_url"],
            base_url.trim_end_matches('/'),
        ));
    }
    if p.id == "openrouter" {
        edits.push(Edit::set(&["model", "api_mode"], "chat_completions"));
    } else {
        edits.push(Edit::remove(&["model", "api_mode"]));
    }
    edits.extend(version_edit(config));
    apply_and_set_active(ctx, config, &edits, is_oauth(p).then_some(p.id.as_str()))?;
    let mut notes = SaveNotes::default();
    if let Some(old) = dotenv::read(&ctx.home.dotenv())
        .get("OPENAI_BASE_URL")
        .filter(|v| !v.trim().is_empty())
        .cloned()
        && p.id != "openai-api"
    {
        clear_env_var(ctx, "OPENAI_BASE_URL")?;
        notes.cleared_openai_base_url = Some(old);
    }
    Ok(notes)
}

/// A custom endpoint to save.
#[derive(Debug, Clone, Default)]
pub struct CustomEndpoint {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: Option<String>,
    pub api_mode: Option<String>,
    pub context_length: Option<u64>,
}

/// Adds or updates (same base URL) the `custom_providers` entry and, with a model, points
/// `model.*` at it. The key is stored once, in the entry (the pool seeds `custom:<name>` from
/// it); `model.api_key` is removed. Returns whether the entry is new.
pub fn save_custom_endpoint(
    ctx: &PoolContext,
    config: &mut Config,
    ep: &CustomEndpoint,
) -> Result<bool, ModelError> {
    let url = ep.base_url.trim().trim_end_matches('/').to_string();
    let mut list: Vec<Yaml> = config
        .get(&["custom_providers"])
        .and_then(Yaml::as_sequence)
        .cloned()
        .unwrap_or_default();
    let pos = list.iter().position(|v| {
        v.get("base_url")
            .and_then(Yaml::as_str)
            .is_some_and(|u| u.trim().trim_end_matches('/').eq_ignore_ascii_case(&url))
    });
    let is_new = pos.is_none();
    let mut entry = match pos {
        Some(i) => list[i].as_mapping().cloned().unwrap_or_default(),
        None => {
            let mut m = serde_yaml::Mapping::new();
            m.insert("name".into(), ep.name.clone().into());
            m.insert("base_url".into(), url.clone().into());
            m
        }
    };
    if let Some(k) = &ep.api_key {
        entry.insert("api_key".into(), k.clone().into());
    }
    if let Some(m) = &ep.model {
        entry.insert("model".into(), m.clone().into());
    }
    match &ep.api_mode {
        Some(mode) => {
            entry.insert("api_mode".into(), mode.clone().into());
        }
        None if !is_new => {}
        None => {}
    }
    if let (Some(m), Some(n)) = (&ep.model, ep.context_length) {
        let mut models = entry
            .get("models")
            .and_then(Yaml::as_mapping)
            .cloned()
            .unwrap_or_default();
        let mut one = serde_yaml::Mapping::new();
        one.insert("context_length".into(), Yaml::from(n));
        models.insert(m.clone().into(), Yaml::Mapping(one));
        entry.insert("models".into(), Yaml::Mapping(models));
    }
    match pos {
        Some(i) => list[i] = Yaml::Mapping(entry.clone()),
        None => list.push(Yaml::Mapping(entry.clone())),
    }
    let mut edits = vec![Edit::set(&["custom_providers"], Yaml::Sequence(list))];
    if let Some(m) = &ep.model {
        edits.push(Edit::set(&["model", "default"], m.as_str()));
        edits.push(Edit::set(&["model", "provider"], "custom"));
        edits.push(Edit::set(&["model", "base_url"], url.as_str()));
        edits.push(Edit::remove(&["model", "api_key"]));
        edits.push(Edit::remove(&["model", "api"]));
        let mode = ep.api_mode.clone().or_else(|| {
            entry
                .get("api_mode")
                .and_then(Yaml::as_str)
                .map(str::to_string)
        });
        match mode {
            Some(mode) => edits.push(Edit::set(&["model", "api_mode"], mode.as_str())),
            None => edits.push(Edit::remove(&["model", "api_mode"])),
        }
    }
    edits.extend(version_edit(config));
    if ep.model.is_some() {
        apply_and_set_active(ctx, config, &edits, None)?;
    } else {
        config.apply(&edits)?;
    }
    Ok(is_new)
}

/// Points `model.*` at a saved custom provider with `model`, writing the model back to the entry.
pub fn save_saved_custom_choice(
    ctx: &PoolContext,
    config: &mut Config,
    cp: &CustomProvider,
    model: &str,
) -> Result<(), ModelError> {
    if let Some(key) = &cp.provider_key {
        let mut edits = vec![
            Edit::set(&["model", "default"], model),
            Edit::set(&["model", "provider"], format!("custom:{key}")),
            Edit::remove(&["model", "base_url"]),
            Edit::remove(&["model", "api_key"]),
            Edit::remove(&["model", "api_mode"]),
            Edit::set(&["providers", key, "default_model"], model),
        ];
        edits.extend(version_edit(config));
        apply_and_set_active(ctx, config, &edits, None)?;
        return Ok(());
    }
    let ep = CustomEndpoint {
        name: cp.name.clone(),
        base_url: cp.base_url.clone(),
        model: Some(model.to_string()),
        ..CustomEndpoint::default()
    };
    save_custom_endpoint(ctx, config, &ep)?;
    Ok(())
}

/// Removes a `custom_providers` entry by name. When `model.*` pointed at it, `model.provider`,
/// `base_url`, `api_key` and `api_mode` go too (the reference leaves them dangling).
/// Returns whether `model.*` was reset.
pub fn remove_custom(config: &mut Config, name: &str) -> Result<bool, ModelError> {
    let list: Vec<Yaml> = config
        .get(&["custom_providers"])
        .and_then(Yaml::as_sequence)
        .cloned()
        .unwrap_or_default();
    let norm = normalize_custom_name(name);
    let mut removed_url = None;
    let kept: Vec<Yaml> = list
        .into_iter()
        .filter(|v| {
            let hit = v
                .as_mapping()
                .and_then(entry_name)
                .is_some_and(|n| normalize_custom_name(n) == norm);
            if hit {
                removed_url = v.get("base_url").and_then(Yaml::as_str).map(str::to_string);
            }
            !hit
        })
        .collect();
    let Some(url) = removed_url else {
        return Err(ModelError::Invalid(format!(
            "no saved custom provider named {name:?}"
        )));
    };
    let mut edits = vec![Edit::set(&["custom_providers"], Yaml::Sequence(kept))];
    let active = config.model_provider() == Some("custom")
        && config.model_base_url().is_some_and(|u| {
            u.trim_end_matches('/')
                .eq_ignore_ascii_case(url.trim_end_matches('/'))
        });
    if active {
        for k in ["provider", "base_url", "api_key", "api_mode"] {
            edits.push(Edit::remove(&["model", k]));
        }
    }
    config.apply(&edits)?;
    Ok(active)
}

/// The display name the reference derives from a URL: `Local (<host>)` for loopback hosts,
/// else the capitalised host.
pub fn auto_custom_name(url: &str) -> String {
    let host = short_url(url);
    let host = host.trim_end_matches("/v1").to_string();
    let hostname = host.split(['/', ':']).next().unwrap_or("");
    if hostname == "localhost" || hostname == "127.0.0.1" || hostname == "0.0.0.0" {
        return format!("Local ({host})");
    }
    if hostname.contains("runpod") {
        return format!("RunPod ({host})");
    }
    let mut c = host.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => "Custom".into(),
    }
}

/// Probes `<url>/models`, then the alternate base with `/v1` toggled. Returns the base that
/// answered and its models.
pub fn probe_endpoint(url: &str, api_key: Option<&str>) -> (Option<(String, Vec<String>)>, String) {
    let url = url.trim().trim_end_matches('/').to_string();
    let alt = match url.strip_suffix("/v1") {
        Some(s) => s.to_string(),
        None => format!("{url}/v1"),
    };
    let t = fetch_timeout();
    if let Ok(m) = fetch::fetch_models(&url, api_key, t) {
        return (Some((url, m)), alt);
    }
    if let Ok(m) = fetch::fetch_models(&alt, api_key, t) {
        return (Some((alt.clone(), m)), alt);
    }
    (None, alt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;
    use crate::pool::EnvSource;

    fn ctx(d: &std::path::Path, cfg: &str) -> PoolContext {
        std::fs::write(d.join("config.yaml"), cfg).unwrap();
        let home = Home::at(d);
        PoolContext::new(
            home.clone(),
            Config::load(&home).unwrap(),
            EnvSource::new(Default::default(), Default::default()),
            crate::clock::system(),
        )
    }

    #[test]
    fn rows_fold_groups_and_end_with_custom_and_leave() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path(), "");
        let rows = picker_rows(&c);
        assert!(rows[0].text.starts_with("Nous Portal"));
        assert!(rows.iter().any(|r| r.text.starts_with("OpenAI ▸")));
        assert!(!rows.iter().any(|r| r.text == "OpenAI API"));
        assert_eq!(rows.last().unwrap().text, "Leave unchanged");
        assert!(!rows.iter().any(|r| matches!(r.kind, RowKind::RemoveCustom)));
    }

    #[test]
    fn save_writes_model_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path(), "# mine\nmodel:\n  api_key: x\nkeep: 1\n");
        let mut cfg = Config::load(&c.home).unwrap();
        let p = registry().get("deepseek").unwrap();
        save_provider_choice(
            &c,
            &mut cfg,
            p,
            "deepseek-chat",
            "https://api.deepseek.com/v1",
        )
        .unwrap();
        let t = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        assert!(t.starts_with("# mine\nmodel:\n"), "{t}");
        assert!(!t.contains("api_key"));
        let cfg = Config::load(&c.home).unwrap();
        assert_eq!(cfg.model_provider(), Some("deepseek"));
        assert_eq!(cfg.model_default(), Some("deepseek-chat"));
        assert_eq!(AuthStore::load(&c.home).unwrap().active_provider(), None);
    }

    #[test]
    fn custom_key_is_stored_once_and_removal_resets_model() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path(), "");
        let mut cfg = Config::load(&c.home).unwrap();
        let ep = CustomEndpoint {
            name: "Local (127.0.0.1:9)".into(),
            base_url: "http://127.0.0.1:9/v1/".into(),
            api_key: Some("sk-local-1".into()),
            model: Some("qwen2-7b".into()),
            context_length: Some(32000),
            ..CustomEndpoint::default()
        };
        assert!(save_custom_endpoint(&c, &mut cfg, &ep).unwrap());
        let t = std::fs::read_to_string(d.path().join("config.yaml")).unwrap();
        assert_eq!(t.matches("sk-local-1").count(), 1, "{t}");
        assert_eq!(cfg.model_base_url(), Some("http://127.0.0.1:9/v1"));
        assert!(!save_custom_endpoint(&c, &mut cfg, &ep).unwrap());
        assert!(remove_custom(&mut cfg, "Local (127.0.0.1:9)").unwrap());
        assert_eq!(cfg.model_provider(), None);
        assert_eq!(cfg.model_default(), Some("qwen2-7b"));
    }

    #[test]
    fn base_url_follows_env_config_and_key_prefix() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::at(d.path());
        let kimi = registry().get("kimi-coding").unwrap();
        let with = |process: &[(&str, &str)], cfg: &str| {
            std::fs::write(d.path().join("config.yaml"), cfg).unwrap();
            let env = EnvSource::new(
                process
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                Default::default(),
            );
            let c = PoolContext::new(
                home.clone(),
                Config::load(&home).unwrap(),
                env,
                crate::clock::system(),
            );
            effective_base_url(&c, kimi)
        };
        assert_eq!(with(&[], ""), "https://api.moonshot.ai/v1");
        assert_eq!(
            with(&[("KIMI_API_KEY", "sk-kimi-abc")], ""),
            "https://api.kimi.com/coding"
        );
        assert_eq!(
            with(
                &[("KIMI_API_KEY", "sk-kimi-abc")],
                "model:\n  provider: kimi-coding\n  base_url: http://x/v1\n"
            ),
            "http://x/v1"
        );
        assert_eq!(
            with(&[("KIMI_BASE_URL", "http://env/v1")], ""),
            "http://env/v1"
        );
    }

    #[test]
    fn auto_names() {
        assert_eq!(
            auto_custom_name("http://127.0.0.1:8/v1"),
            "Local (127.0.0.1:8)"
        );
        assert_eq!(
            auto_custom_name("https://api.together.xyz/v1"),
            "Api.together.xyz"
        );
    }
}
