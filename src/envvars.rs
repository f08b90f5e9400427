//! Every environment variable the binary reads, in one place.

/// Directory holding `auth.json`, `config.yaml` and `.env` (default `~/.hermes`).
pub const HERMES_HOME: &str = "HERMES_HOME";
/// Seconds to wait for the `auth.lock` advisory lock (default 15).
pub const HERMES_AUTH_LOCK_TIMEOUT: &str = "HERMES_AUTH_LOCK_TIMEOUT_SECONDS";
/// Disables colour in prompts and menus when set.
pub const NO_COLOR: &str = "NO_COLOR";
/// When set to 1/true/yes/on, prompts take their defaults without asking.
pub const HERMES_NONINTERACTIVE: &str = "HERMES_NONINTERACTIVE";
/// Upstream base URL for every `hermes proxy` adapter (overrides the credential's and the
/// provider's; for tests and self-hosted gateways).
pub const HERMES_PROXY_BASE_URL: &str = "HERMES_PROXY_BASE_URL";
/// Shared secret clients must present to `hermes proxy` (`Authorization: Bearer` or `x-api-key`).
pub const HERMES_PROXY_CLIENT_KEY: &str = "HERMES_PROXY_CLIENT_KEY";
/// Seconds `hermes proxy` waits for an upstream response head (default 300) before a 504.
pub const HERMES_PROXY_UPSTREAM_TIMEOUT: &str = "HERMES_PROXY_UPSTREAM_TIMEOUT";
/// Seconds one model-list request (`GET <base>/models`) may take in `hermes model` (default 5).
pub const HERMES_MODEL_LIST_TIMEOUT: &str = "HERMES_MODEL_LIST_TIMEOUT";

// ---- PKCE logins (test hooks for endpoints the reference hard-codes; not in the reference) ----

/// Full URL of the Anthropic (Claude Pro/Max) authorize page (default `https://claude.ai/oauth/authorize`).
pub const HERMES_ANTHROPIC_OAUTH_AUTHORIZE_URL: &str = "HERMES_ANTHROPIC_OAUTH_AUTHORIZE_URL";
/// Full URL of the Anthropic token endpoint; replaces the two-endpoint fallback list.
pub const HERMES_ANTHROPIC_OAUTH_TOKEN_URL: &str = "HERMES_ANTHROPIC_OAUTH_TOKEN_URL";
/// Full URL of the Google authorize page for `google-gemini-cli`.
pub const HERMES_GEMINI_OAUTH_AUTHORIZE_URL: &str = "HERMES_GEMINI_OAUTH_AUTHORIZE_URL";
/// Full URL of the Google token endpoint for `google-gemini-cli`.
pub const HERMES_GEMINI_OAUTH_TOKEN_URL: &str = "HERMES_GEMINI_OAUTH_TOKEN_URL";
/// Full URL of the userinfo endpoint used for the Gemini login's email label.
pub const HERMES_GEMINI_OAUTH_USERINFO_URL: &str = "HERMES_GEMINI_OAUTH_USERINFO_URL";
/// OAuth client id for `google-gemini-cli` (default: the public Gemini CLI desktop client).
pub const HERMES_GEMINI_CLIENT_ID: &str = "HERMES_GEMINI_CLIENT_ID";
/// OAuth client secret for `google-gemini-cli` (a desktop client's non-confidential secret).
pub const HERMES_GEMINI_CLIENT_SECRET: &str = "HERMES_GEMINI_CLIENT_SECRET";
/// When set (non-empty), logins never try to open a browser (as on SSH).
pub const HERMES_HEADLESS: &str = "HERMES_HEADLESS";
/// Full URL of the Qwen OAuth token endpoint (default `https://chat.qwen.ai/api/v1/oauth2/token`).
pub const HERMES_QWEN_OAUTH_TOKEN_URL: &str = "HERMES_QWEN_OAUTH_TOKEN_URL";
/// Qwen inference base URL (default `https://portal.qwen.ai/v1`).
pub const HERMES_QWEN_BASE_URL: &str = "HERMES_QWEN_BASE_URL";

// ---- Spotify (reference names) ----

/// Spotify app client id (then `SPOTIFY_CLIENT_ID`, then the stored one).
pub const HERMES_SPOTIFY_CLIENT_ID: &str = "HERMES_SPOTIFY_CLIENT_ID";
/// Spotify redirect URI (then `SPOTIFY_REDIRECT_URI`).
pub const HERMES_SPOTIFY_REDIRECT_URI: &str = "HERMES_SPOTIFY_REDIRECT_URI";
/// Spotify accounts host (default `https://accounts.spotify.com`).
pub const HERMES_SPOTIFY_ACCOUNTS_BASE_URL: &str = "HERMES_SPOTIFY_ACCOUNTS_BASE_URL";
/// Spotify Web API base (default `https://api.spotify.com/v1`).
pub const HERMES_SPOTIFY_API_BASE_URL: &str = "HERMES_SPOTIFY_API_BASE_URL";
/// Honcho host block to use (default `hermes`, or `hermes_<profile>`).
pub const HERMES_HONCHO_HOST: &str = "HERMES_HONCHO_HOST";
/// Honcho dashboard origin; the authorize URL is `<dashboard>/authorize`.
pub const HONCHO_OAUTH_DASHBOARD: &str = "HONCHO_OAUTH_DASHBOARD";
/// Honcho OAuth authorize URL (overrides the dashboard-derived one).
pub const HONCHO_OAUTH_AUTHORIZE_URL: &str = "HONCHO_OAUTH_AUTHORIZE_URL";
/// Honcho OAuth token URL.
pub const HONCHO_OAUTH_TOKEN_URL: &str = "HONCHO_OAUTH_TOKEN_URL";
/// Honcho OAuth client id (default `hermes-agent`).
pub const HONCHO_OAUTH_CLIENT_ID: &str = "HONCHO_OAUTH_CLIENT_ID";
/// Honcho OAuth scope (default `write`).
pub const HONCHO_OAUTH_SCOPE: &str = "HONCHO_OAUTH_SCOPE";
/// Self-hosted Honcho API base URL when the config has no `baseUrl`.
pub const HONCHO_BASE_URL: &str = "HONCHO_BASE_URL";

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
