//! Providers: the registry table ([`registry`]) and the CLI's provider-argument rules.
//!
//! OAuth flows live in their own modules beside this one; they are chosen by the registry row
//! (`auth_type`, `default_add_type`), never by ad-hoc string matching in the CLI.

pub mod logout;
pub mod oauth;
pub mod registry;
pub mod status;

pub use registry::{AuthKind, Provider, Registry, Wire, registry};

use crate::store::config::{Config, normalize_custom_name};

/// The `openrouter` pool key (special-cased: not a registered provider in the reference).
pub const OPENROUTER: &str = "openrouter";

/// Normalizes a CLI provider argument to a pool key (`OR` → `openrouter`,
/// `Together AI` → `custom:together-ai`, `grok-oauth` → `xai-oauth`).
///
/// Registry ids and aliases win over custom provider names, so a custom endpoint called
/// `DeepSeek` cannot take over `hermes auth add deepseek` (the reference lets it).
pub fn normalize_provider(input: &str, config: &Config) -> String {
    let lower = input.trim().to_lowercase();
    let reg = registry();
    if let Some(p) = reg.by_alias(&lower) {
        return p.id.clone();
    }
    if let Some(rest) = lower.strip_prefix("custom:") {
        return format!("custom:{}", normalize_custom_name(rest));
    }
    let dashed = lower.replace(' ', "-");
    for c in config.custom_providers() {
        let norm = normalize_custom_name(&c.name);
        if dashed == norm
            || c.provider_key.as_deref().map(str::to_lowercase).as_deref() == Some(dashed.as_str())
        {
            return format!("custom:{norm}");
        }
    }
    lower
}

/// Whether `key` names a pool `auth add` accepts: a provider in the table or `custom:<name>`.
pub fn is_known_pool_key(key: &str) -> bool {
    registry().get(key).is_some() || (key.starts_with("custom:") && key.len() > "custom:".len())
}

/// The human name of a pool key.
pub fn display_name(key: &str, config: &Config) -> String {
    if let Some(p) = registry().get(key) {
        return p.display_name.clone();
    }
    if let Some(c) = config.custom_provider(key) {
        return c.name;
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Home;

    #[test]
    fn aliases_and_custom_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.yaml"),
            "custom_providers:\n- name: Together AI\n  base_url: https://t/v1\n- name: DeepSeek\n  base_url: https://d/v1\n",
        )
        .unwrap();
        let c = Config::load(&Home::at(d.path())).unwrap();
        assert_eq!(normalize_provider("OR", &c), "openrouter");
        assert_eq!(normalize_provider("open-router", &c), "openrouter");
        assert_eq!(normalize_provider("Grok-OAuth", &c), "xai-oauth");
        assert_eq!(normalize_provider("together ai", &c), "custom:together-ai");
        assert_eq!(
            normalize_provider("custom:Together AI", &c),
            "custom:together-ai"
        );
        assert_eq!(normalize_provider("deepseek", &c), "deepseek");
        assert_eq!(normalize_provider("NOUS", &c), "nous");
        assert_eq!(normalize_provider("claude", &c), "claude");
        assert!(!is_known_pool_key("claude"));
        assert!(!is_known_pool_key("custom"));
        assert!(is_known_pool_key("custom:x"));
        assert!(is_known_pool_key("fw"));
    }
}
