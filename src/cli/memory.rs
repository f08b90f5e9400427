//! `hermes memory setup [honcho]`: the memory provider's sign-in. Only Honcho needs one; this
//! runs its deployment and auth steps (cloud OAuth or API key, or a local server) and writes
//! the Honcho config file. Every prompt has a flag.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::{CliError, say, ui};
use crate::home::Home;
use crate::honcho::config::{self, HonchoPaths, host_block_mut};
use crate::honcho::oauth::{self, Credential, SignIn};
use crate::secret::redact;
use crate::store::Config;

#[derive(Debug, Args)]
pub struct MemoryArgs {
    #[command(subcommand)]
    pub command: MemoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Configure a memory provider (sign in to Honcho)
    Setup(SetupArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deployment {
    Cloud,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    Oauth,
    Apikey,
}

#[derive(Debug, Args, Clone)]
pub struct SetupArgs {
    /// Provider to configure directly (e.g. honcho), skipping the picker
    pub provider: Option<String>,
    #[command(flatten)]
    pub honcho: HonchoSetupFlags,
}

#[derive(Debug, Args, Clone, Default)]
pub struct HonchoSetupFlags {
    /// Honcho cloud or a self-hosted server (answers "Cloud or local?")
    #[arg(long, value_enum)]
    pub deployment: Option<Deployment>,
    /// Base URL of a local Honcho server (answers "Base URL")
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// How to sign in to Honcho cloud (answers "OAuth or API key?"); keys are read from stdin
    /// when it is not a terminal
    #[arg(long, value_enum)]
    pub auth: Option<AuthMethod>,
    /// Print the authorization link without opening a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser sign-in
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

pub fn run(args: MemoryArgs) -> Result<(), CliError> {
    match args.command {
        MemoryCommand::Setup(a) => setup(a),
    }
}

fn ask(label: &str, default: &str) -> Result<String, CliError> {
    let suffix = if default.is_empty() {
        String::new()
    } else {
        format!(" [{default}]")
    };
    match ui::prompt_line(&format!("  {label}{suffix}: ")) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Ok(default.to_string()),
        None => Err(CliError::failure("Setup cancelled.")),
    }
}

fn setup(a: SetupArgs) -> Result<(), CliError> {
    let provider = match a.provider.as_deref() {
        Some(p) => p.trim().to_ascii_lowercase(),
        None => {
            if !ui::stdin_is_tty() {
                return Err(CliError::needs_terminal(
                    "Choosing a memory provider",
                    "the provider: `hermes memory setup honcho`",
                ));
            }
            say("\n  Memory providers:");
            say("    honcho -- Honcho: persistent cross-session memory");
            ask("Provider", "honcho")?.to_ascii_lowercase()
        }
    };
    if provider != "honcho" {
        return Err(
            CliError::usage(format!("Unknown memory provider: {provider}"))
                .hint("available: honcho"),
        );
    }
    honcho_setup(&a.honcho)
}

fn is_loopback(u: &str) -> bool {
    ["localhost", "127.0.0.1", "::1"]
        .iter()
        .any(|h| u.contains(h))
}

/// The Honcho wizard's deployment and auth steps.
pub fn honcho_setup(f: &HonchoSetupFlags) -> Result<(), CliError> {
    let home = Home::resolve().map_err(|e| CliError::failure(e.to_string()))?;
    let tty = ui::stdin_is_tty();
    let paths = HonchoPaths::new(&home);
    let read_path = paths.resolve();
    let write_path = paths.local.clone();
    let mut cfg = config::read_checked(&read_path)?;
    // config.yaml is rewritten at the end: refuse a damaged one before anything is written.
    let mut yaml = Config::load(&home)?;
    let host = crate::honcho::active_host(&home, &cfg);
    if !tty {
        // Fail before printing anything when a prompt would be needed.
        let hint = match (f.deployment, f.auth, &f.base_url) {
            (None, _, _) => Some(("Choosing Honcho cloud or local", "--deployment cloud|local")),
            (Some(Deployment::Cloud), None, _) => {
                Some(("Choosing OAuth or an API key", "--auth oauth|apikey"))
            }
            (Some(Deployment::Local), _, None) => {
                Some(("The local Honcho base URL", "--base-url URL"))
            }
            _ => None,
        };
        if let Some((what, flag)) = hint {
            return Err(CliError::needs_terminal(what, flag));
        }
    }

    say(format!("\nHoncho memory setup\n{}", "─".repeat(40)));
    say("  Honcho gives Hermes persistent cross-session memory.");
    say(format!("  Config: {}", write_path.display()));
    if read_path != write_path && read_path.exists() {
        say(format!(
            "  (seeding from existing config at {})",
            read_path.display()
        ));
    }
    say("");

    // 1. Cloud or local?
    let current_url = cfg
        .get("baseUrl")
        .or_else(|| cfg.get("base_url"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let deployment = match f.deployment {
        Some(d) => d,
        None if tty => {
            say("  Deployment:");
            say("    cloud -- Honcho cloud (api.honcho.dev)");
            say("    local -- self-hosted Honcho server");
            let default = if is_loopback(&current_url) {
                "local"
            } else {
                "cloud"
            };
            match ask("Cloud or local?", default)?
                .to_ascii_lowercase()
                .as_str()
            {
                "local" | "l" => Deployment::Local,
                _ => Deployment::Cloud,
            }
        }
        None => {
            return Err(CliError::needs_terminal(
                "Choosing Honcho cloud or local",
                "--deployment cloud|local",
            ));
        }
    };
    cfg.remove("base_url");

    let summary;
    match deployment {
        Deployment::Local => {
            let url = match &f.base_url {
                Some(u) => u.clone(),
                None if tty => {
                    let d = if current_url.is_empty() {
                        "http://localhost:8000"
                    } else {
                        current_url.as_str()
                    };
                    ask("Base URL", d)?
                }
                None => {
                    return Err(CliError::needs_terminal(
                        "The local Honcho base URL",
                        "--base-url URL",
                    ));
                }
            };
            cfg.insert("baseUrl".into(), Value::from(url.clone()));
            if tty {
                say("\n  Local Honcho auth (JWT signed with the server's AUTH_JWT_SECRET).");
                say("  Leave blank if your server runs with AUTH_USE_AUTH=false.");
            }
            let jwt =
                ui::read_secret("  Local JWT / bearer token (blank to skip / keep current): ")?;
            let block = host_block_mut(&mut cfg, &host);
            if let Some(j) = jwt {
                block.insert("apiKey".into(), Value::from(j));
                block.remove("oauth");
                summary = format!("local server {url}, JWT set");
            } else {
                summary = format!("local server {url}");
            }
        }
        Deployment::Cloud => {
            cfg.remove("baseUrl");
            let existing = config::host_block(&cfg, &host).and_then(Credential::from_host_block);
            let method = match f.auth {
                Some(m) => m,
                None if tty => {
                    say("\n  Auth method:");
                    if let Some(c) = &existing {
                        say(format!(
                            "    (currently connected via OAuth — client {})",
                            c.client_id
                        ));
                    }
                    say("    oauth  -- sign in via browser (recommended)");
                    say("    apikey -- paste an API key from https://app.honcho.dev");
                    match ask("OAuth or API key?", "oauth")?
                        .to_ascii_lowercase()
                        .as_str()
                    {
                        "oauth" | "o" => AuthMethod::Oauth,
                        _ => AuthMethod::Apikey,
                    }
                }
                None => {
                    return Err(CliError::needs_terminal(
                        "Choosing OAuth or an API key",
                        "--auth oauth|apikey",
                    ));
                }
            };
            match method {
                AuthMethod::Oauth => {
                    say("\n  Starting browser sign-in…");
                    let endpoints = oauth::endpoints_for(&cfg, &host);
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| CliError::failure(e.to_string()))?;
                    let mut paste = tty.then(crate::providers::oauth::loopback::stdin_lines);
                    let result = rt.block_on(oauth::sign_in(SignIn {
                        endpoints,
                        config_path: write_path.clone(),
                        host: host.clone(),
                        open_browser: !f.no_browser,
                        timeout: Duration::from_secs(f.timeout.max(1)),
                        paste: paste.as_mut(),
                    }));
                    rt.shutdown_background();
                    let (cred, granted) = match result {
                        Ok(v) => v,
                        Err(e) => {
                            say(format!("  OAuth sign-in failed: {e}"));
                            say(
                                "  Re-run 'hermes honcho setup' to retry, or choose an API key instead.\n",
                            );
                            return Err(CliError::new(super::ExitKind::Failure, ""));
                        }
                    };
                    cred.store_into(&mut cfg, &host);
                    if let Some(peer) = granted
                        .as_ref()
                        .and_then(|g| g.get("peerName"))
                        .and_then(Value::as_str)
                    {
                        let block = host_block_mut(&mut cfg, &host);
                        block.entry("peerName").or_insert_with(|| Value::from(peer));
                    }
                    say("  Authorized — token saved.");
                    summary = format!("OAuth, client {}", cred.client_id);
                }
                AuthMethod::Apikey => {
                    let current = cfg
                        .get("apiKey")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if tty {
                        let masked = if current.is_empty() {
                            "not set".to_string()
                        } else {
                            redact(&current)
                        };
                        say(format!("\n  Current API key: {masked}"));
                    }
                    let key = ui::read_secret("  Honcho API key (leave blank to keep current): ")?;
                    if let Some(k) = key {
                        cfg.insert("apiKey".into(), Value::from(k));
                    }
                    if cfg
                        .get("apiKey")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        say("\n  No API key configured. Get yours at https://app.honcho.dev");
                        say("  Run 'hermes honcho setup' again once you have a key.\n");
                        return Err(CliError::new(super::ExitKind::Failure, ""));
                    }
                    // A host-level OAuth token would shadow the root key: drop the grant.
                    if existing.is_some() {
                        let block = host_block_mut(&mut cfg, &host);
                        block.remove("apiKey");
                        block.remove("oauth");
                    }
                    summary = "API key".to_string();
                }
            }
        }
    }

    config::write(&write_path, &cfg)?;
    if yaml.get_str(&["memory", "provider"]) != Some("honcho") {
        yaml.set(
            &["memory", "provider"],
            serde_yaml::Value::String("honcho".into()),
        )?;
    }
    say("");
    say(format!(
        "  ✓ Honcho configured for host '{host}' ({summary})."
    ));
    say(format!("  Config written to {}", write_path.display()));
    say("  Check it with: hermes honcho status");
    Ok(())
}
