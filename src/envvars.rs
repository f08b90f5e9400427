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
/// Nous inference base URL used by `hermes proxy --provider nous` (not validated).
pub const NOUS_INFERENCE_BASE_URL: &str = "NOUS_INFERENCE_BASE_URL";
/// Shared secret clients must present to `hermes proxy` (`Authorization: Bearer` or `x-api-key`).
pub const HERMES_PROXY_CLIENT_KEY: &str = "HERMES_PROXY_CLIENT_KEY";
/// Seconds `hermes proxy` waits for an upstream response head (default 300) before a 504.
pub const HERMES_PROXY_UPSTREAM_TIMEOUT: &str = "HERMES_PROXY_UPSTREAM_TIMEOUT";
/// Seconds a Nous token refresh may take (default 15).
pub const HERMES_NOUS_TIMEOUT_SECONDS: &str = "HERMES_NOUS_TIMEOUT_SECONDS";
