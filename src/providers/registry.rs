//! The provider registry, read from `registry.tsv` (compiled into the binary).

use std::collections::HashMap;
use std::sync::OnceLock;

/// How a provider authenticates (the registry's `auth_type` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    ApiKey,
    OAuthDeviceCode,
    OAuthExternal,
    OAuthMinimax,
    ExternalProcess,
    AwsSdk,
}

/// What an upstream speaks (used by the proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Codex,
    None,
}

/// One registry row.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub display_name: String,
    pub auth: AuthKind,
    /// In the reference's PROVIDER_REGISTRY (`openrouter` is not: `auth logout openrouter`
    /// is refused there; we accept it).
    pub registered: bool,
    /// `--type` when `auth add` is given none: `oauth` for OAuth-capable providers.
    pub default_add_oauth: bool,
    pub cli_aliases: Vec<String>,
    pub api_key_env_vars: Vec<String>,
    /// Env vars seeded into the pool, in seeding order.
    pub seed_env_vars: Vec<String>,
    pub base_url_env: Option<String>,
    pub default_base_url: String,
    /// `(key prefix, base URL)`: keys with this prefix use that URL unless `base_url_env` is set.
    pub key_prefix_base_urls: Vec<(String, String)>,
    pub wire: Wire,
}

impl Provider {
    /// Whether env vars seed this provider's pool (API-key providers only).
    pub fn env_seeded(&self) -> bool {
        self.auth == AuthKind::ApiKey
    }
}

/// All providers, in table order, with lookup by id and alias.
#[derive(Debug)]
pub struct Registry {
    providers: Vec<Provider>,
    by_id: HashMap<String, usize>,
    by_alias: HashMap<String, usize>,
}

const TABLE: &str = include_str!("registry.tsv");

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Registry {
    pub fn parse(table: &str) -> Result<Self, String> {
        let mut lines = table
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        let header: Vec<&str> = lines.next().ok_or("empty registry")?.split('\t').collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .ok_or(format!("no column {name}"))
        };
        let c = [
            col("id")?,
            col("display_name")?,
            col("auth_type")?,
            col("registered")?,
            col("default_add_type")?,
            col("cli_aliases")?,
            col("api_key_env_vars")?,
            col("seed_env_vars")?,
            col("base_url_env")?,
            col("default_base_url")?,
            col("key_prefix_base_urls")?,
            col("wire")?,
        ];
        let mut providers = Vec::new();
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| f.get(c[i]).copied().unwrap_or("").trim();
            let auth = match get(2) {
                "api_key" => AuthKind::ApiKey,
                "oauth_device_code" => AuthKind::OAuthDeviceCode,
                "oauth_external" => AuthKind::OAuthExternal,
                "oauth_minimax" => AuthKind::OAuthMinimax,
                "external_process" => AuthKind::ExternalProcess,
                "aws_sdk" => AuthKind::AwsSdk,
                other => return Err(format!("{}: unknown auth_type {other}", get(0))),
            };
            let wire = match get(11) {
                "anthropic" => Wire::Anthropic,
                "codex" => Wire::Codex,
                "none" => Wire::None,
                _ => Wire::OpenAi,
            };
            let api_key_env_vars = list(get(6));
            let seed = list(get(7));
            providers.push(Provider {
                id: get(0).to_string(),
                display_name: get(1).to_string(),
                auth,
                registered: get(3) == "yes",
                default_add_oauth: get(4) == "oauth",
                cli_aliases: list(get(5)),
                seed_env_vars: if seed.is_empty() {
                    api_key_env_vars.clone()
                } else {
                    seed
                },
                api_key_env_vars,
                base_url_env: Some(get(8).to_string()).filter(|s| !s.is_empty()),
                default_base_url: get(9).to_string(),
                key_prefix_base_urls: list(get(10))
                    .into_iter()
                    .filter_map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect(),
                wire,
            });
        }
        let mut by_id = HashMap::new();
        let mut by_alias = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            by_id.insert(p.id.clone(), i);
            by_alias.insert(p.id.clone(), i);
            for a in &p.cli_aliases {
                by_alias.insert(a.clone(), i);
            }
        }
        Ok(Self {
            providers,
            by_id,
            by_alias,
        })
    }

    pub fn all(&self) -> &[Provider] {
        &self.providers
    }

    /// Exact id lookup (ids are lowercase).
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.by_id.get(id).map(|i| &self.providers[*i])
    }

    /// Lookup by id or CLI alias (`or`, `grok-oauth`).
    pub fn by_alias(&self, name: &str) -> Option<&Provider> {
        self.by_alias.get(name).map(|i| &self.providers[*i])
    }

    /// Every pool key `auth list` walks: all ids (alias rows included), sorted.
    pub fn sorted_ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.providers.iter().map(|p| p.id.as_str()).collect();
        v.sort_unstable();
        v
    }
}

/// The compiled-in registry.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry::parse(TABLE).expect("registry.tsv is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_has_the_reference_rows() {
        let r = registry();
        assert!(r.all().len() >= 45);
        let or = r.get("openrouter").unwrap();
        assert!(!or.registered);
        assert_eq!(or.default_base_url, "https://openrouter.ai/api/v1");
        assert_eq!(r.by_alias("or").unwrap().id, "openrouter");
        assert_eq!(r.by_alias("grok-oauth").unwrap().id, "xai-oauth");
        let a = r.get("anthropic").unwrap();
        assert_eq!(
            a.seed_env_vars,
            [
                "ANTHROPIC_TOKEN",
                "CLAUDE_CODE_OAUTH_TOKEN",
                "ANTHROPIC_API_KEY"
            ]
        );
        assert!(a.default_add_oauth);
        assert_eq!(r.get("nous").unwrap().auth, AuthKind::OAuthDeviceCode);
        assert_eq!(r.get("zai").unwrap().api_key_env_vars.len(), 3);
        assert_eq!(
            r.get("kimi-coding").unwrap().key_prefix_base_urls[0].0,
            "sk-kimi-"
        );
        assert!(r.get("deepseek").unwrap().env_seeded());
        assert!(r.get("fw").is_some());
    }
}
