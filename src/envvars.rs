//! Every environment variable the binary reads, in one place.

/// Directory holding `auth.json`, `config.yaml` and `.env` (default `~/.hermes`).
pub const HERMES_HOME: &str = "HERMES_HOME";
/// Seconds to wait for the `auth.lock` advisory lock (default 15).
pub const HERMES_AUTH_LOCK_TIMEOUT: &str = "HERMES_AUTH_LOCK_TIMEOUT_SECONDS";
/// Disables colour in prompts and menus when set.
pub const NO_COLOR: &str = "NO_COLOR";
/// When set to 1/true/yes/on, prompts take their defaults without asking.
pub const HERMES_NONINTERACTIVE: &str = "HERMES_NONINTERACTIVE";
/// Seconds one model-list request (`GET <base>/models`) may take in `hermes model` (default 5).
pub const HERMES_MODEL_LIST_TIMEOUT: &str = "HERMES_MODEL_LIST_TIMEOUT";
