//! OAuth logins and token lifecycles, one module per provider flow, on shared parts:
//!
//! * [`http`]: the reqwest client (rustls/ring, `--insecure`, `--ca-bundle`, timeouts, no
//!   redirects for token calls) and transport-error descriptions with their cause chain.
//! * [`device`]: the RFC 8628 device-authorization polling engine.
//! * [`refresh`]: the pool's [`TokenRefresher`](crate::pool::TokenRefresher), dispatching per
//!   provider, single-flight across processes under the store lock.
//! * [`OAuthError`]: one line naming the provider, what failed and the next command; never a token.
//!
//! Output of a running login goes to stdout line by line (flushed), so a script reading it sees
//! the user code at once; the polling spinner goes to stderr and hides itself without a terminal.

pub mod anthropic;
pub mod codex;
pub mod copilot;
pub mod device;
pub mod gemini;
pub mod http;
pub mod loopback;
pub mod minimax;
pub mod nous;
pub mod pkce;
pub mod pkce_status;
pub mod qwen;
pub mod refresh;
pub mod spotify;
pub mod xai;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

pub use refresh::OAuthRefresher;

/// What `auth status` reports for an OAuth provider.
pub type OAuthStatus = nous::NousStatus;

/// What kind of failure an [`OAuthError`] is (decides retry/quarantine, never the wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Network, DNS, TLS, timeout: the stored login is kept.
    Transport,
    /// The server answered with an unexpected status or body.
    Protocol,
    /// The user denied the request or the device code expired.
    Denied,
    /// The server says the grant is dead (`invalid_grant`, reuse): log in again.
    Terminal,
    /// Bad local input (missing CA bundle, bad URL).
    Config,
    /// Nothing stored to use.
    NotLoggedIn,
}

/// A failed OAuth step. `Display` is the one line for the user; `next` is the command to run.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OAuthError {
    pub provider: String,
    pub kind: ErrorKind,
    /// The OAuth `error` code when the server sent one.
    pub code: Option<String>,
    pub message: String,
    /// The command that fixes it (`hermes auth add nous`).
    pub next: Option<String>,
}

impl OAuthError {
    pub fn new(provider: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            kind,
            code: None,
            message: message.into(),
            next: None,
        }
    }
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
    pub fn next(mut self, cmd: impl Into<String>) -> Self {
        self.next = Some(cmd.into());
        self
    }
    pub fn transport(provider: &str, message: impl Into<String>) -> Self {
        Self::new(provider, ErrorKind::Transport, message)
    }
    pub fn protocol(provider: &str, message: impl Into<String>) -> Self {
        Self::new(provider, ErrorKind::Protocol, message)
    }
    /// Whether the stored login is dead and must be replaced by a new login.
    pub fn is_terminal(&self) -> bool {
        self.kind == ErrorKind::Terminal
    }
}

/// Writes one line to stdout and flushes it (a reader of a running login sees it at once).
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs a future to completion from synchronous code, also when called from inside a tokio
/// runtime (the proxy): then on a scoped helper thread with its own runtime.
pub fn block_on<F: Future + Send>(fut: F) -> F::Output
where
    F::Output: Send,
{
    fn run<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(fut)
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(|| run(fut)).join().expect("oauth thread"))
    } else {
        run(fut)
    }
}

// ---- browser policy ----

const REMOTE_VARS: &[&str] = &[
    "SSH_CLIENT",
    "SSH_TTY",
    "CLOUD_SHELL",
    "CODESPACES",
    "CODESPACE_NAME",
    "GITPOD_WORKSPACE_ID",
    "REPL_ID",
    "STACKBLITZ",
];

/// An SSH session or a cloud IDE: a browser opened here would not be the user's.
pub fn is_remote_session() -> bool {
    REMOTE_VARS
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

const CONSOLE_BROWSERS: &[&str] = &[
    "w3m",
    "lynx",
    "links",
    "links2",
    "elinks",
    "www-browser",
    "browsh",
];

/// Whether a graphical browser can be expected (`$BROWSER` set to a non-console browser, or a
/// display on Linux).
pub fn has_graphical_browser() -> bool {
    if let Ok(b) = std::env::var("BROWSER")
        && !b.trim().is_empty()
    {
        let first = b.split_whitespace().next().unwrap_or("");
        let base = std::path::Path::new(first)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        return !CONSOLE_BROWSERS.contains(&base.as_str());
    }
    if cfg!(target_os = "linux") {
        return std::env::var_os("DISPLAY").is_some()
            || std::env::var_os("WAYLAND_DISPLAY").is_some();
    }
    true
}

/// Browser policy of a flow.
#[derive(Debug, Clone, Copy)]
pub struct BrowserPolicy {
    pub no_browser: bool,
    /// Also require [`has_graphical_browser`] (xAI, MiniMax).
    pub needs_graphical: bool,
}

impl BrowserPolicy {
    pub fn allowed(&self) -> bool {
        !self.no_browser
            && !is_remote_session()
            && (!self.needs_graphical || has_graphical_browser())
    }
}

/// Opens `url` (through `$BROWSER` when set); returns whether it worked.
pub fn open_browser(url: &str) -> bool {
    webbrowser::open(url).is_ok()
}

/// Opens the verification URL when the policy allows and prints the reference's line about it.
pub fn maybe_open(policy: BrowserPolicy, url: &str, dash: &str) {
    if !policy.allowed() {
        return;
    }
    if open_browser(url) {
        say("  (Opened browser for verification)");
    } else {
        say(format!(
            "  Could not open browser automatically {dash} use the URL above."
        ));
    }
}

// ---- spinner ----

/// An indicatif spinner on stderr while polling; invisible when stderr is not a terminal.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    pub fn start(message: &str) -> Self {
        let pb =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.set_message(message.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        Self(pb)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The test-only scale applied to every device-flow wait (`HERMES_OAUTH_POLL_SCALE`, default 1).
pub fn poll_scale() -> f64 {
    std::env::var(crate::envvars::HERMES_OAUTH_POLL_SCALE)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(1.0, |v| v.clamp(0.001, 1.0))
}

/// `d` scaled by [`poll_scale`].
pub fn scaled(d: Duration) -> Duration {
    d.mul_f64(poll_scale())
}

/// An env var, trimmed; empty counts as unset.
pub fn env_nonempty(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `http://127.0.0.1`, `http://localhost`, `http://[::1]` (any port).
pub fn is_loopback_url(u: &url::Url) -> bool {
    matches!(
        u.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || u.host_str() == Some("localhost")
}

/// A JSON object field as a non-empty string.
pub fn jstr<'a>(m: &'a serde_json::Map<String, serde_json::Value>, k: &str) -> Option<&'a str> {
    m.get(k)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A JSON field as seconds (number or numeric string).
pub fn jsecs(m: &serde_json::Map<String, serde_json::Value>, k: &str) -> Option<f64> {
    match m.get(k)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
