//! `hermes mcp login <name>` and `hermes mcp reauth [<name>] [--all]`: sign in to OAuth MCP
//! servers from `mcp_servers` in config.yaml.

use clap::{Args, Subcommand};

use super::{CliError, ExitKind, say, ui};
use crate::home::Home;
use crate::mcp::{self, ConnectOptions, McpServer, TokenFiles};
use crate::store::Config;

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(subcommand)]
    pub command: McpCommand,
}

#[derive(Debug, Args, Clone)]
pub struct FlowFlags {
    /// Print the authorization URL without trying to open a browser
    #[arg(long)]
    pub no_browser: bool,
    /// Wait only for the browser's redirect to the loopback callback (no pasted URL); allows
    /// signing in without a terminal, e.g. with a scripted $BROWSER
    #[arg(long)]
    pub callback_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Force re-authentication for an OAuth-based MCP server
    Login {
        /// Server name to re-authenticate
        name: String,
        #[command(flatten)]
        flags: FlowFlags,
    },
    /// Re-authenticate one OAuth MCP server, or all of them (--all)
    Reauth {
        /// Server name to re-authenticate (omit with --all)
        name: Option<String>,
        /// Re-authenticate every OAuth server in config, one at a time
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        flags: FlowFlags,
    },
}

/// Settings resolved from the flags and the terminal.
struct Settings {
    home: Home,
    servers: Vec<McpServer>,
    open_browser: bool,
    paste: bool,
    callback_only: bool,
}

fn error_line(text: &str) {
    say(format!("  ✗ {text}"));
}

/// A failure already reported on stdout.
fn reported(kind: ExitKind) -> CliError {
    CliError::new(kind, "")
}

fn not_found(s: &Settings, name: &str) -> CliError {
    error_line(&format!("Server '{name}' not found in config."));
    if !s.servers.is_empty() {
        let names: Vec<&str> = s.servers.iter().map(|x| x.name.as_str()).collect();
        say(format!("  Available servers: {}", names.join(", ")));
    }
    reported(ExitKind::NotFound)
}

/// Config checks that need no network (the reference's messages).
fn check_oauth_capable(server: &McpServer) -> Result<(), CliError> {
    if server.url.is_none() {
        error_line(&format!(
            "Server '{}' has no URL — not an OAuth-capable server",
            server.name
        ));
        return Err(reported(ExitKind::Failure));
    }
    if !server.is_oauth() {
        error_line(&format!(
            "Server '{}' is not configured for OAuth (auth={})",
            server.name,
            server.auth.as_deref().unwrap_or("None")
        ));
        // The reference points at `hermes mcp remove` + `hermes mcp add`, which this binary
        // does not have: name the config edit instead.
        say(format!(
            "  Set `auth: oauth` under mcp_servers.{} in config.yaml, then run `hermes mcp login {}`.",
            server.name, server.name
        ));
        return Err(reported(ExitKind::Failure));
    }
    Ok(())
}

fn needs_terminal(s: &Settings, name: &str) -> Result<(), CliError> {
    if s.paste || s.callback_only {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "MCP OAuth for '{name}': non-interactive environment and no cached tokens found. Run `hermes mcp login {name}` interactively first to complete initial authorization."
    ))
    .hint("or pass --callback-only to wait for the browser's redirect without a terminal"))
}

/// Wipes the stored state and runs the flow; prints the outcome. `true` on success.
fn reauth_one(
    s: &Settings,
    rt: &tokio::runtime::Runtime,
    paste: &mut Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
    server: &McpServer,
) -> bool {
    let files = TokenFiles::new(&s.home, &server.name);
    files.remove_all();
    say("");
    say(format!("  Starting OAuth flow for '{}'...", server.name));
    let opts = ConnectOptions {
        interactive: true,
        open_browser: s.open_browser,
        connect_timeout: server
            .connect_timeout
            .unwrap_or(0.0)
            .max(mcp::flow::LOGIN_CONNECT_TIMEOUT_SECS),
    };
    let result = rt.block_on(mcp::connect(&s.home, server, &opts, paste.as_mut()));
    match result {
        Ok(report) => {
            if !files.has_tokens() {
                say(
                    "  ⚠ Server responded, but no OAuth token was obtained — authentication did not complete.",
                );
                say("");
                say(
                    "  Some providers (e.g. Google Drive, Atlassian) do not support automatic client registration. For those you must create an OAuth client yourself and add its credentials to config.yaml:",
                );
                say("");
                say("    mcp_servers:");
                say(format!("      {}:", server.name));
                say(format!(
                    "        url: {}",
                    server.url.as_deref().unwrap_or_default()
                ));
                say("        auth: oauth");
                say("        oauth:");
                say("          client_id: \"<your-oauth-client-id>\"");
                say("          client_secret: \"<your-oauth-client-secret>\"");
                say("");
                say(format!("  Then re-run `hermes mcp login {}`.", server.name));
                return false;
            }
            if report.tools.is_empty() {
                say("  ✓ Authenticated (server reported no tools)");
            } else {
                say(format!(
                    "  ✓ Authenticated — {} tool(s) available",
                    report.tools.len()
                ));
            }
            true
        }
        Err(e) => {
            error_line(&format!("Authentication failed: {e}"));
            false
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))
}

pub fn run(args: McpArgs) -> Result<(), CliError> {
    let home = Home::resolve().map_err(|e| CliError::failure(e.to_string()))?;
    let config = Config::load(&home)?;
    let flags = match &args.command {
        McpCommand::Login { flags, .. } | McpCommand::Reauth { flags, .. } => flags.clone(),
    };
    let s = Settings {
        servers: mcp::servers(&config),
        home,
        open_browser: !flags.no_browser,
        paste: ui::stdin_is_tty() && !flags.callback_only,
        callback_only: flags.callback_only,
    };
    let targets: Vec<McpServer> = match &args.command {
        McpCommand::Login { name, .. }
        | McpCommand::Reauth {
            name: Some(name),
            all: false,
            ..
        } => {
            let Some(server) = s.servers.iter().find(|x| &x.name == name) else {
                return Err(not_found(&s, name));
            };
            check_oauth_capable(server)?;
            needs_terminal(&s, name)?;
            vec![server.clone()]
        }
        McpCommand::Reauth { all: true, .. } => {
            let list: Vec<McpServer> = s
                .servers
                .iter()
                .filter(|x| x.is_oauth() && x.url.is_some())
                .cloned()
                .collect();
            if list.is_empty() {
                say("  No OAuth-based MCP servers found in config.");
                return Ok(());
            }
            needs_terminal(&s, &list[0].name)?;
            list
        }
        McpCommand::Reauth { name: None, .. } => {
            error_line("Specify a server name, or use --all to re-auth every OAuth server.");
            say("  Usage: hermes mcp reauth <name>   |   hermes mcp reauth --all");
            return Err(reported(ExitKind::Usage));
        }
    };
    let rt = runtime()?;
    let mut paste = if s.paste {
        Some(crate::providers::oauth::loopback::stdin_lines())
    } else {
        None
    };
    let all = matches!(args.command, McpCommand::Reauth { all: true, .. });
    if !all {
        let ok = reauth_one(&s, &rt, &mut paste, &targets[0]);
        // Leave the runtime without waiting for a browser launcher that may still run.
        rt.shutdown_background();
        return if ok {
            Ok(())
        } else {
            Err(reported(ExitKind::Failure))
        };
    }
    say("");
    say(format!(
        "  Re-authenticating {} OAuth server(s) one at a time...",
        targets.len()
    ));
    let mut ok = 0;
    for server in &targets {
        say("");
        say(format!("  ── {} ──", server.name));
        if reauth_one(&s, &rt, &mut paste, server) {
            ok += 1;
        }
    }
    say("");
    say(format!(
        "  ✓ Re-authenticated {ok}/{} server(s)",
        targets.len()
    ));
    rt.shutdown_background();
    if ok == targets.len() {
        Ok(())
    } else {
        Err(reported(ExitKind::Failure))
    }
}
