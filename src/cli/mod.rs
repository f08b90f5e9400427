//! The command line: clap definitions (one file per command, groups are directories), each
//! resolving its arguments into plain settings before calling into the library.

pub mod auth;
pub mod completion;
pub mod error;
pub mod honcho;
pub mod login;
pub mod logout;
pub mod mcp;
pub mod memory;
pub mod model;
pub mod proxy;
pub mod setup;
pub mod ui;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::{CliError, ExitKind};

use crate::home::Home;
use crate::pool::PoolContext;

/// Provider auth for the Hermes agent: credential pools, logins and a local proxy.
#[derive(Debug, Parser)]
#[command(
    name = "hermes",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage pooled credentials (bare `hermes auth`: pool status and an interactive menu)
    Auth(auth::AuthArgs),
    /// Clear authentication for an inference provider
    Logout(logout::LogoutArgs),
    /// Select default model and provider
    Model(model::ModelArgs),
    /// Interactive setup wizard: provider, model and credential rotation
    Setup(setup::SetupArgs),
    /// Deprecated: use `hermes auth`, `hermes model` or `hermes setup`
    #[command(hide = true)]
    Login(login::LoginArgs),
    /// Local OpenAI-compatible proxy over your credential pools
    Proxy(proxy::ProxyArgs),
    /// Manage MCP servers: OAuth sign-in (login, reauth)
    Mcp(mcp::McpArgs),
    /// Configure external memory provider
    Memory(memory::MemoryArgs),
    /// Honcho memory provider: status and setup (when `memory.provider: honcho`)
    #[command(hide = true)]
    Honcho(honcho::HonchoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(completion::CompletionArgs),
}

/// Writes one line to stdout; a closed pipe (`hermes auth list | head -1`) ends quietly.
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").is_err() {
        std::process::exit(0);
    }
}

/// The real environment: `HERMES_HOME`, the process env + `.env`, config.yaml.
pub fn context() -> Result<PoolContext, CliError> {
    let home = Home::resolve().map_err(|e| CliError::failure(e.to_string()))?;
    let mut ctx = PoolContext::from_env(home)?;
    ctx.refresher = Some(std::sync::Arc::new(crate::providers::oauth::OAuthRefresher));
    Ok(ctx)
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Auth(args) => auth::run(args),
        Command::Logout(args) => logout::run(args),
        Command::Model(args) => model::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Login(args) => login::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Completion(args) => completion::run(args),
        Command::Mcp(args) => mcp::run(args),
        Command::Memory(args) => memory::run(args),
        Command::Honcho(args) => honcho::run(args),
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitKind::Usage as u8
            } else {
                0
            });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            // An empty message means the command already reported the failure on stdout.
            if !e.message.is_empty() || !e.hints.is_empty() {
                eprintln!("{e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
