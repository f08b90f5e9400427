//! `HERMES_HOME` resolution and the paths inside it.

use std::path::{Path, PathBuf};

use crate::envvars;

/// The Hermes home directory (`$HERMES_HOME`, else `~/.hermes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot find a home directory: set HERMES_HOME or HOME")]
pub struct NoHomeDir;

impl Home {
    /// `HERMES_HOME` (trimmed; empty counts as unset), else `~/.hermes`. Creates nothing.
    pub fn resolve() -> Result<Self, NoHomeDir> {
        if let Ok(v) = std::env::var(envvars::HERMES_HOME) {
            let v = v.trim();
            if !v.is_empty() {
                return Ok(Self::at(v));
            }
        }
        let home = user_home().ok_or(NoHomeDir)?;
        Ok(Self::at(home.join(".hermes")))
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn auth_json(&self) -> PathBuf {
        self.dir.join("auth.json")
    }
    pub fn auth_lock(&self) -> PathBuf {
        self.dir.join("auth.lock")
    }
    pub fn config_yaml(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }
    pub fn dotenv(&self) -> PathBuf {
        self.dir.join(".env")
    }
    /// `$HERMES_HOME/.anthropic_oauth.json`: Hermes-owned Anthropic PKCE credentials.
    pub fn anthropic_oauth_json(&self) -> PathBuf {
        self.dir.join(".anthropic_oauth.json")
    }
}

/// The user's home directory: `$HOME` when set (tests rely on it), else the platform's.
pub fn user_home() -> Option<PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => dirs::home_dir(),
    }
}
