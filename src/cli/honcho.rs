//! `hermes honcho [status]`, `hermes honcho setup`: present when `memory.provider: honcho`
//! (as in the reference, where the memory plugin registers it). `status` refreshes an OAuth
//! token within 120 s of expiry, as `auth status` does for providers.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::memory::{HonchoSetupFlags, honcho_setup};
use super::{CliError, say};
use crate::home::Home;
use crate::honcho::config::{self, HonchoPaths};
use crate::honcho::oauth::{self, Credential};
use crate::secret::redact;
use crate::store::Config;

#[derive(Debug, Args)]
pub struct HonchoArgs {
    #[command(subcommand)]
    pub command: Option<HonchoCommand>,
}

#[derive(Debug, Subcommand)]
pub enum HonchoCommand {
    /// Show the Honcho config and sign-in state (refreshes a token about to expire)
    Status,
    /// Run the Honcho setup (same as `hermes memory setup honcho`)
    Setup(HonchoSetupFlags),
}

pub fn run(args: HonchoArgs) -> Result<(), CliError> {
    let home = Home::resolve().map_err(|e| CliError::failure(e.to_string()))?;
    let yaml = Config::load(&home)?;
    if yaml.get_str(&["memory", "provider"]) != Some("honcho") {
        return Err(CliError::usage(
            "hermes: error: argument command: invalid choice: 'honcho'",
        )
        .hint("`hermes honcho` exists once Honcho is the memory provider: run `hermes memory setup honcho`"));
    }
    match args.command {
        None | Some(HonchoCommand::Status) => status(&home),
        Some(HonchoCommand::Setup(flags)) => {
            say("\n  Honcho is configured via the memory provider system.");
            say("  Running 'hermes memory setup'...\n");
            honcho_setup(&flags)
        }
    }
}

fn python_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn status(home: &Home) -> Result<(), CliError> {
    let paths = HonchoPaths::new(home);
    let path = paths.resolve();
    if !path.exists() {
        say(format!("  No Honcho config found at {}", path.display()));
        say("  Run 'hermes honcho setup' to configure.\n");
        return Ok(());
    }
    let raw0 = config::read_checked(&path)?;
    let host = crate::honcho::active_host(home, &raw0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(e.to_string()))?;
    let fresh = rt
        .block_on(oauth::ensure_fresh(&path, &host))
        .map_err(|e| CliError::failure(format!("error: {e}")))?;
    if let Some(err) = fresh.as_ref().and_then(|f| f.error.as_deref()) {
        eprintln!("warning: Honcho token refresh failed: {err}");
    }
    let raw = config::read(&path);
    let block = config::host_block(&raw, &host).cloned().unwrap_or_default();
    let get = |k: &str| block.get(k).or_else(|| raw.get(k));
    let api_key = get("apiKey").and_then(Value::as_str).unwrap_or_default();
    let base_url = raw
        .get("baseUrl")
        .or_else(|| raw.get("base_url"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let enabled = match get("enabled").and_then(Value::as_bool) {
        Some(b) => b,
        None => !api_key.is_empty() || !base_url.is_empty(),
    };
    let profile = crate::honcho::active_profile(home);
    let label = if profile == "default" {
        String::new()
    } else {
        format!(" [{host}]")
    };
    say(format!("\nHoncho status{label}\n{}", "─".repeat(40)));
    if profile != "default" {
        say(format!("  Profile:        {profile}"));
    }
    say(format!("  Host:           {host}"));
    say(format!("  Enabled:        {}", python_bool(enabled)));
    match Credential::from_host_block(&block) {
        Some(cred) => {
            let remaining = (cred.expires_at - now()).floor() as i64;
            let state = if remaining > 0 {
                format!("valid {}m", remaining / 60)
            } else {
                "expired — refreshes on next use".to_string()
            };
            say(format!(
                "  Auth:           OAuth ({}, token {state})",
                cred.client_id
            ));
        }
        None => {
            let masked = if api_key.is_empty() {
                "not set".to_string()
            } else {
                redact(api_key)
            };
            say(format!("  Auth:           API key ({masked})"));
        }
    }
    let workspace = get("workspace").and_then(Value::as_str).unwrap_or("hermes");
    say(format!("  Workspace:      {workspace}"));
    say(format!("  Config:         {}", path.display()));
    if paths.local != path {
        say(format!(
            "  Write to:       {}  (profile-local)",
            paths.local.display()
        ));
    }
    if !base_url.is_empty() {
        say(format!("  Base URL:       {base_url}"));
    }
    Ok(())
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
