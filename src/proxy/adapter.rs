//! Upstream adapters: one data row per upstream ([`AdapterSpec`]) behind one trait ([`Adapter`]).
//!
//! The rows come from the provider registry (every API-key provider whose `wire` is OpenAI- or
//! Anthropic-shaped), the two OAuth upstreams of the reference (`nous`, `xai` = the `xai-oauth`
//! pool) and every `custom:<name>` provider in config.yaml or pool in auth.json.

use http::{HeaderName, HeaderValue, header};

use crate::envvars;
use crate::pool::{PoolContext, PoolEntry, entry::AUTH_OAUTH};
use crate::providers::{AuthKind, Wire, normalize_provider, registry};
use crate::store::AuthStore;

/// Paths (relative to `/v1`) an OpenAI-compatible upstream serves through the proxy.
pub const OPENAI_PATHS: &[&str] = &[
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/models",
];
/// The xAI upstream also serves the Responses API.
pub const XAI_PATHS: &[&str] = &[
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/models",
    "/responses",
];
/// Anthropic-shaped upstreams: the Messages API passed through.
pub const ANTHROPIC_PATHS: &[&str] = &["/messages", "/messages/count_tokens", "/models"];

const NOUS_PINNED_PREFIX: &str = "https://inference-api.nousresearch.com";

/// How the credential travels upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialHeader {
    /// `Authorization: Bearer <key>`
    Bearer,
    /// `x-api-key: <key>` (Anthropic API keys); OAuth entries still use a bearer.
    XApiKey,
}

/// Which credential-stored base URLs an OAuth adapter trusts with its bearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryBaseRule {
    /// The URL starts with this (Nous: the production inference host).
    Prefix(&'static str),
    /// `https://` on this domain or a subdomain (xAI: `x.ai`).
    HttpsDomain(&'static str),
}

impl EntryBaseRule {
    pub fn allows(self, url: &str) -> bool {
        match self {
            EntryBaseRule::Prefix(p) => url.starts_with(p),
            EntryBaseRule::HttpsDomain(d) => url::Url::parse(url).is_ok_and(|u| {
                u.scheme() == "https"
                    && u.host_str().is_some_and(|h| {
                        h.eq_ignore_ascii_case(d)
                            || h.to_ascii_lowercase().ends_with(&format!(".{d}"))
                    })
            }),
        }
    }
}

/// One upstream, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSpec {
    /// The `--provider` name (`nous`, `xai`, `openrouter`, `custom:local`).
    pub name: String,
    pub display_name: String,
    /// The credential pool the credentials come from.
    pub pool_key: String,
    pub allowed_paths: &'static [&'static str],
    pub header: CredentialHeader,
    /// Anthropic-style base URLs omit `/v1`; the proxy adds it back.
    pub base_omits_v1: bool,
    /// Env vars that override the upstream base URL, first set wins (after `HERMES_PROXY_BASE_URL`).
    pub base_url_envs: Vec<String>,
    /// Used when neither an env var nor the credential names a base URL.
    pub default_base_url: String,
    /// The command that adds a credential (named in "not logged in" errors).
    pub fix_command: String,
    /// OAuth upstreams: a base URL stored in the credential is used only when it passes this
    /// check (the bearer must not go to a host an edited auth.json names); else the default.
    pub pin_entry_base: Option<EntryBaseRule>,
}

/// What every upstream adapter answers. The proxy core only talks to this trait.
pub trait Adapter: Send + Sync {
    fn spec(&self) -> &AdapterSpec;

    /// The key an upstream request carries for `entry`, or `""` when it holds none usable
    /// right now (an OAuth entry that must be refreshed or minted first).
    fn bearer(&self, entry: &PoolEntry, now: f64) -> String {
        entry
            .runtime_api_key(&self.spec().pool_key, now)
            .trim()
            .to_string()
    }

    /// The upstream base URL for `entry` (no trailing `/`).
    fn base_url(&self, ctx: &PoolContext, entry: &PoolEntry) -> String {
        let s = self.spec();
        let env = |v: &str| {
            ctx.env
                .lookup(v)
                .map(|x| x.trim().trim_end_matches('/').to_string())
                .filter(|x| !x.is_empty())
        };
        if let Some(u) = env(envvars::HERMES_PROXY_BASE_URL) {
            return u;
        }
        for v in &s.base_url_envs {
            if let Some(u) = env(v) {
                return u;
            }
        }
        let stored = entry
            .runtime_base_url(&s.pool_key)
            .map(|u| u.trim().trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .filter(|u| s.pin_entry_base.is_none_or(|rule| rule.allows(u)));
        stored
            .map(str::to_string)
            .unwrap_or_else(|| s.default_base_url.trim_end_matches('/').to_string())
    }

    /// The full upstream URL for an allowed `tail` (`/chat/completions`) and raw query.
    fn upstream_url(&self, base: &str, tail: &str, query: Option<&str>) -> String {
        let mut url = String::with_capacity(base.len() + tail.len() + 8);
        url.push_str(base);
        if self.spec().base_omits_v1 && !base.ends_with("/v1") {
            url.push_str("/v1");
        }
        url.push_str(tail);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// The header carrying `key` for `entry`.
    fn credential_header(&self, entry: &PoolEntry, key: &str) -> Option<(HeaderName, HeaderValue)> {
        let (name, value) = match self.spec().header {
            CredentialHeader::XApiKey if entry.auth_type != AUTH_OAUTH => {
                (HeaderName::from_static("x-api-key"), key.to_string())
            }
            _ => (header::AUTHORIZATION, format!("Bearer {key}")),
        };
        let mut v = HeaderValue::from_str(&value).ok()?;
        v.set_sensitive(true);
        Some((name, v))
    }
}

/// The one implementation: behaviour comes from the spec row.
#[derive(Debug, Clone)]
pub struct PoolAdapter(pub AdapterSpec);

impl Adapter for PoolAdapter {
    fn spec(&self) -> &AdapterSpec {
        &self.0
    }
}

fn nous() -> AdapterSpec {
    AdapterSpec {
        name: "nous".into(),
        display_name: "Nous Portal".into(),
        pool_key: "nous".into(),
        allowed_paths: OPENAI_PATHS,
        header: CredentialHeader::Bearer,
        base_omits_v1: false,
        base_url_envs: vec![envvars::NOUS_INFERENCE_BASE_URL.into()],
        default_base_url: "https://inference-api.nousresearch.com/v1".into(),
        fix_command: "hermes auth add nous".into(),
        pin_entry_base: Some(EntryBaseRule::Prefix(NOUS_PINNED_PREFIX)),
    }
}

fn xai() -> AdapterSpec {
    AdapterSpec {
        name: "xai".into(),
        display_name: "xAI Grok OAuth".into(),
        pool_key: "xai-oauth".into(),
        allowed_paths: XAI_PATHS,
        header: CredentialHeader::Bearer,
        base_omits_v1: false,
        base_url_envs: vec![],
        default_base_url: "https://api.x.ai/v1".into(),
        fix_command: "hermes auth add xai-oauth --type oauth".into(),
        pin_entry_base: Some(EntryBaseRule::HttpsDomain("x.ai")),
    }
}

/// The proxy name of the xAI API-key pool (`xai` is the reference's name for xAI OAuth).
pub const XAI_API_NAME: &str = "xai-api";

fn from_registry(p: &crate::providers::Provider) -> Option<AdapterSpec> {
    if p.auth != AuthKind::ApiKey {
        return None;
    }
    let (paths, header, omits) = match p.wire {
        Wire::OpenAi => (OPENAI_PATHS, CredentialHeader::Bearer, false),
        Wire::Anthropic => (ANTHROPIC_PATHS, CredentialHeader::XApiKey, true),
        Wire::Codex | Wire::None => return None,
    };
    let name = if p.id == "xai" {
        XAI_API_NAME.to_string()
    } else {
        p.id.clone()
    };
    Some(AdapterSpec {
        name,
        display_name: p.display_name.clone(),
        pool_key: p.id.clone(),
        allowed_paths: if p.id == "xai" { XAI_PATHS } else { paths },
        header,
        base_omits_v1: omits,
        base_url_envs: p.base_url_env.iter().cloned().collect(),
        default_base_url: p.default_base_url.clone(),
        fix_command: format!("hermes auth add {} --api-key <key>", p.id),
        pin_entry_base: None,
    })
}

fn custom(key: &str, display: String, base: String) -> AdapterSpec {
    AdapterSpec {
        name: key.to_string(),
        display_name: display,
        pool_key: key.to_string(),
        allowed_paths: OPENAI_PATHS,
        header: CredentialHeader::Bearer,
        base_omits_v1: false,
        base_url_envs: vec![],
        default_base_url: base,
        fix_command: format!("hermes auth add {key}"),
        pin_entry_base: None,
    }
}

/// Every adapter, in listing order: `nous`, `xai`, the registry's API-key providers, then
/// `custom:*` (from config.yaml and from pools in `store`).
pub fn all(ctx: &PoolContext, store: Option<&AuthStore>) -> Vec<AdapterSpec> {
    let mut out = vec![nous(), xai()];
    out.extend(registry().all().iter().filter_map(from_registry));
    let mut customs: Vec<AdapterSpec> = Vec::new();
    for c in ctx.config.custom_providers() {
        let key = c.pool_key();
        if !customs.iter().any(|a| a.name == key) {
            customs.push(custom(&key, c.name.clone(), c.base_url.clone()));
        }
    }
    if let Some(store) = store {
        for key in store.pool_keys() {
            if key.starts_with("custom:") && !customs.iter().any(|a| a.name == key) {
                customs.push(custom(&key, key.clone(), String::new()));
            }
        }
    }
    customs.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(customs);
    out
}

/// Finds the adapter for a `--provider` value (trimmed, case-insensitive; registry aliases
/// and custom provider names work as in `hermes auth`).
pub fn find(ctx: &PoolContext, store: Option<&AuthStore>, name: &str) -> Option<AdapterSpec> {
    let lower = name.trim().to_lowercase();
    let list = all(ctx, store);
    if let Some(a) = list.iter().find(|a| a.name == lower) {
        return Some(a.clone());
    }
    let key = normalize_provider(&lower, &ctx.config);
    if let Some(a) = list
        .into_iter()
        .find(|a| a.pool_key == key || a.name == key)
    {
        return Some(a);
    }
    // An unconfigured `custom:<name>`: known name, empty pool (start then names `auth add`).
    (key.starts_with("custom:") && key.len() > "custom:".len())
        .then(|| custom(&key, key.clone(), String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;

    fn ctx(dir: &std::path::Path) -> PoolContext {
        PoolContext::from_env(Home::at(dir)).unwrap()
    }

    #[test]
    fn registry_rows_become_adapters() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.yaml"),
            "custom_providers:\n- name: Local\n  base_url: http://127.0.0.1:9/v1/\n",
        )
        .unwrap();
        let c = ctx(d.path());
        let all = all(&c, None);
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(&names[..2], ["nous", "xai"]);
        assert!(names.contains(&"openrouter"));
        assert!(names.contains(&"anthropic"));
        assert!(names.contains(&XAI_API_NAME));
        assert!(names.contains(&"custom:local"));
        assert!(!names.contains(&"openai-codex"));
        assert!(!names.contains(&"bedrock"));
        assert_eq!(find(&c, None, " XAI ").unwrap().pool_key, "xai-oauth");
        assert_eq!(find(&c, None, "grok-oauth").unwrap().name, "xai");
        assert_eq!(find(&c, None, "OR").unwrap().name, "openrouter");
        assert_eq!(find(&c, None, "local").unwrap().name, "custom:local");
        assert!(find(&c, None, "bogus").is_none());
        let a = find(&c, None, "anthropic").unwrap();
        assert_eq!(a.header, CredentialHeader::XApiKey);
        let ad = PoolAdapter(a);
        assert_eq!(
            ad.upstream_url("https://api.anthropic.com", "/messages", Some("beta=true")),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
    }

    #[test]
    fn xai_entry_base_must_be_https_x_ai() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path());
        let a = PoolAdapter(xai());
        let mut e = PoolEntry::new("x", "oauth", "manual:device_code");
        for (stored, used) in [
            ("http://127.0.0.1:9/v1", "https://api.x.ai/v1"),
            ("https://x.ai.evil.example/v1", "https://api.x.ai/v1"),
            ("https://api.x.ai/v2/", "https://api.x.ai/v2"),
            ("https://eu.api.x.ai/v1", "https://eu.api.x.ai/v1"),
        ] {
            e.base_url = Some(stored.into());
            assert_eq!(a.base_url(&c, &e), used, "{stored}");
        }
    }

    #[test]
    fn nous_base_url_is_pinned_unless_env() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path());
        let a = PoolAdapter(nous());
        let mut e = PoolEntry::new("x", "oauth", "device_code");
        e.inference_base_url = Some("https://evil.example/v1".into());
        assert_eq!(
            a.base_url(&c, &e),
            "https://inference-api.nousresearch.com/v1"
        );
        e.inference_base_url = Some("https://inference-api.nousresearch.com/v2/".into());
        assert_eq!(
            a.base_url(&c, &e),
            "https://inference-api.nousresearch.com/v2"
        );
    }
}
