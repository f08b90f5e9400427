//! Every environment variable the binary reads, in one place.

/// Directory holding `auth.json`, `config.yaml` and `.env` (default `~/.hermes`).
pub const HERMES_HOME: &str = "HERMES_HOME";
/// Seconds to wait for the `auth.lock` advisory lock (default 15).
pub const HERMES_AUTH_LOCK_TIMEOUT: &str = "HERMES_AUTH_LOCK_TIMEOUT_SECONDS";
/// Disables colour in prompts and menus when set.
pub const NO_COLOR: &str = "NO_COLOR";
/// When set to 1/true/yes/on, prompts take their defaults without asking.
pub const HERMES_NONINTERACTIVE: &str = "HERMES_NONINTERACTIVE";
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
