//! Every environment variable the binary reads, in one place.

/// Directory holding `auth.json`, `config.yaml` and `.env` (default `~/.hermes`).
pub const HERMES_HOME: &str = "HERMES_HOME";
/// Seconds to wait for the `auth.lock` advisory lock (default 15).
pub const HERMES_AUTH_LOCK_TIMEOUT: &str = "HERMES_AUTH_LOCK_TIMEOUT_SECONDS";
/// Disables colour in prompts and menus when set.
pub const NO_COLOR: &str = "NO_COLOR";
/// When set to 1/true/yes/on, prompts take their defaults without asking.
pub const HERMES_NONINTERACTIVE: &str = "HERMES_NONINTERACTIVE";

// ---- OAuth flows (src/providers/oauth) ----

/// Test-only: multiplies every device-flow poll wait (default 1; e.g. `0.01` in tests).
pub const HERMES_OAUTH_POLL_SCALE: &str = "HERMES_OAUTH_POLL_SCALE";
/// Nous portal base URL (login default and runtime override). Checked before `NOUS_PORTAL_BASE_URL`.
pub const HERMES_PORTAL_BASE_URL: &str = "HERMES_PORTAL_BASE_URL";
/// Nous portal base URL (after `HERMES_PORTAL_BASE_URL`).
pub const NOUS_PORTAL_BASE_URL: &str = "NOUS_PORTAL_BASE_URL";
/// Nous inference base URL: login default and runtime overlay (never persisted).
pub const NOUS_INFERENCE_BASE_URL: &str = "NOUS_INFERENCE_BASE_URL";
/// Nous refresh/mint HTTP timeout in seconds at runtime (default 15).
pub const HERMES_NOUS_TIMEOUT_SECONDS: &str = "HERMES_NOUS_TIMEOUT_SECONDS";
/// Directory of the shared Nous token store (default `<root>/shared`).
pub const HERMES_SHARED_AUTH_DIR: &str = "HERMES_SHARED_AUTH_DIR";
/// CA bundle for Nous runtime calls (after a stored `tls.ca_bundle`).
pub const HERMES_CA_BUNDLE: &str = "HERMES_CA_BUNDLE";
/// Base URL of the OpenAI Codex OAuth issuer (default `https://auth.openai.com`); the Codex
/// paths (`/api/accounts/deviceauth/usercode`, `/api/accounts/deviceauth/token`, `/oauth/token`)
/// are appended.
pub const HERMES_CODEX_OAUTH_ISSUER: &str = "HERMES_CODEX_OAUTH_ISSUER";
/// Codex refresh HTTP timeout in seconds (default 20, minimum 5).
pub const HERMES_CODEX_REFRESH_TIMEOUT_SECONDS: &str = "HERMES_CODEX_REFRESH_TIMEOUT_SECONDS";
/// Codex inference base URL (default `https://chatgpt.com/backend-api/codex`).
pub const HERMES_CODEX_BASE_URL: &str = "HERMES_CODEX_BASE_URL";
/// xAI OAuth issuer (default `https://auth.x.ai`); discovery at
/// `<issuer>/.well-known/openid-configuration`. Non-x.ai endpoints are admitted only on loopback.
pub const HERMES_XAI_OAUTH_ISSUER: &str = "HERMES_XAI_OAUTH_ISSUER";
/// xAI refresh HTTP timeout in seconds (default 20).
pub const HERMES_XAI_REFRESH_TIMEOUT_SECONDS: &str = "HERMES_XAI_REFRESH_TIMEOUT_SECONDS";
/// MiniMax OAuth portal base (default `https://api.minimax.io`); `/oauth/code`, `/oauth/token` appended.
pub const HERMES_MINIMAX_OAUTH_BASE: &str = "HERMES_MINIMAX_OAUTH_BASE";
/// Base of the GitHub device endpoints for Copilot login (default `https://github.com`).
pub const HERMES_COPILOT_GITHUB_URL: &str = "HERMES_COPILOT_GITHUB_URL";
/// Full URL of the Copilot token exchange (default `https://api.github.com/copilot_internal/v2/token`).
pub const HERMES_COPILOT_TOKEN_EXCHANGE_URL: &str = "HERMES_COPILOT_TOKEN_EXCHANGE_URL";
