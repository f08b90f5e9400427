//! OAuth for remote MCP servers (`hermes mcp login|reauth`): the `mcp_servers` config, the
//! `mcp-tokens/` files in the reference's layout, and the browser flow built on the official
//! MCP Rust SDK (`rmcp`).

pub mod config;
pub mod flow;
pub mod tokens;

pub use config::{McpServer, OAuthSettings, servers};
pub use flow::{ConnectOptions, ProbeReport, connect};
pub use tokens::{TokenFiles, file_stem};

/// Why connecting or signing in to an MCP server failed. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("Server '{0}' has no URL — not an OAuth-capable server")]
    NoUrl(String),
    #[error(
        "MCP OAuth for '{0}': non-interactive environment and no cached tokens found. Run `hermes mcp login {0}` interactively first to complete initial authorization."
    )]
    NonInteractiveNoTokens(String),
    #[error(
        "MCP OAuth for '{0}' requires browser authorization but no interactive session is available. Run `hermes mcp login {0}` interactively to (re)authorize, then restart or reload the gateway."
    )]
    NonInteractiveBrowser(String),
    #[error(
        "OAuth callback timed out — no authorization code received. Ensure you completed the browser authorization flow."
    )]
    CallbackTimeout,
    #[error(
        "OAuth callback port {port} is already in use ({detail}). Close any other in-progress login, or set a free `oauth.redirect_port` in the server config, then retry."
    )]
    PortBusy { port: u16, detail: String },
    #[error("OAuth authorization failed: {0}")]
    Denied(String),
    #[error("OAuth state mismatch — possible CSRF, aborting")]
    StateMismatch,
    #[error("user_skipped")]
    UserSkipped,
    #[error("{0}")]
    Auth(rmcp::transport::auth::AuthError),
    #[error("OAuth token refresh failed: {0}")]
    Refresh(String),
    #[error("{0}")]
    Probe(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
