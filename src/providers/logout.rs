//! `hermes auth logout <provider>` and `hermes logout [--provider P]`.

use serde_yaml::Value as Yaml;

use super::registry;
use crate::pool::{EnvSource, PoolError};
use crate::store::{AuthStore, Config, StoreLock};

/// What a logout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// No provider named and none active.
    NothingActive,
    /// Nothing stored for the provider.
    NoState { display: String },
    /// State removed; `config_line` is the second line to print.
    LoggedOut {
        display: String,
        config_line: String,
    },
}

/// Whether `name` may be logged out of: a provider in the table or `spotify`.
pub fn is_logout_target(name: &str) -> bool {
    let n = name.to_lowercase();
    n == "spotify" || registry().get(&n).is_some()
}

fn display_name(id: &str) -> String {
    if id == "spotify" {
        return "Spotify".into();
    }
    registry()
        .get(id)
        .map(|p| p.display_name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Removes `providers.<id>`, `credential_pool.<id>` and the active-provider mark; resets
/// `model.provider` in config.yaml when it pointed at the provider.
pub fn logout(
    home: &crate::home::Home,
    target: Option<&str>,
    env: &EnvSource,
) -> Result<LogoutOutcome, PoolError> {
    let mut config = Config::load(home)?;
    let target = match target {
        Some(t) => t.trim().to_lowercase(),
        None => {
            let store = AuthStore::load(home)?;
            match store.active_provider().map(str::to_string).or_else(|| {
                config
                    .model_provider()
                    .map(str::to_lowercase)
                    .filter(|p| matches!(p.as_str(), "nous" | "openai-codex" | "xai-oauth"))
            }) {
                Some(t) => t.to_lowercase(),
                None => return Ok(LogoutOutcome::NothingActive),
            }
        }
    };
    let display = display_name(&target);
    let reset_config = registry().get(&target).is_some()
        && config.model_provider().map(str::to_lowercase).as_deref() == Some(target.as_str());
    let snapshot = AuthStore::load(home)?;
    let touches = snapshot.provider_state(&target).is_some()
        || snapshot.has_pool(&target)
        || snapshot.active_provider() == Some(target.as_str());
    let mut removed = false;
    if touches {
        let lock = StoreLock::acquire(home)?;
        let mut store = AuthStore::load_locked(&lock)?;
        removed |= store.remove_provider_state(&target);
        removed |= store.remove_pool(&target);
        if store.active_provider() == Some(target.as_str()) {
            store.set_active_provider(None);
            removed = true;
        }
        if removed {
            store.save(&lock)?;
        }
    }
    // Login files Hermes owns outside auth.json (Gemini's credential file).
    removed |= super::oauth::pkce_status::logout_files(home, &target);
    if target == "nous" {
        // The shared cross-profile Nous store would otherwise offer the session back.
        removed |= super::oauth::nous::remove_shared(home);
    }
    if !removed && !reset_config {
        return Ok(LogoutOutcome::NoState { display });
    }
    let config_line = if reset_config {
        config.set(&["model", "provider"], Yaml::String("auto".into()))?;
        if config.get(&["model", "base_url"]).is_some() {
            config.set(
                &["model", "base_url"],
                Yaml::String("https://openrouter.ai/api/v1".into()),
            )?;
        }
        if env.lookup("OPENROUTER_API_KEY").is_some() {
            "Hermes will use OpenRouter for inference.".to_string()
        } else {
            "Run `hermes model` or configure an API key to use Hermes.".to_string()
        }
    } else {
        "Model provider configuration was unchanged.".to_string()
    };
    Ok(LogoutOutcome::LoggedOut {
        display,
        config_line,
    })
}
