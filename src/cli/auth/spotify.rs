//! `hermes auth spotify [login|status|logout]`: Spotify PKCE login with a loopback callback.

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cli::{CliError, context, say, ui};
use crate::pool::PoolContext;
use crate::providers::oauth::loopback::{
    self, Loopback, LoopbackConfig, Received, WaitError, WaitOptions,
};
use crate::providers::oauth::{pkce, spotify};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SpotifyAction {
    #[default]
    Login,
    Status,
    Logout,
}

#[derive(Debug, Args)]
pub struct SpotifyArgs {
    /// What to do (default: login)
    #[arg(value_enum)]
    pub action: Option<SpotifyAction>,
    /// Spotify app client_id (or set HERMES_SPOTIFY_CLIENT_ID)
    #[arg(long)]
    pub client_id: Option<String>,
    /// Allow-listed localhost redirect URI for your Spotify app
    #[arg(long)]
    pub redirect_uri: Option<String>,
    /// Override requested Spotify scopes
    #[arg(long)]
    pub scope: Option<String>,
    /// Do not attempt to open the browser automatically
    #[arg(long)]
    pub no_browser: bool,
    /// Callback/token exchange timeout in seconds
    #[arg(long)]
    pub timeout: Option<f64>,
}

pub fn run(args: SpotifyArgs) -> Result<(), CliError> {
    match args.action.unwrap_or_default() {
        SpotifyAction::Status => super::status::run(super::status::StatusArgs {
            provider: spotify::ID.into(),
            json: false,
            verbose: false,
        }),
        SpotifyAction::Logout => crate::cli::logout::print_logout(Some(spotify::ID)),
        SpotifyAction::Login => {
            let ctx = context()?;
            super::add_oauth::cancel_on_ctrl_c();
            login(&ctx, &args)
        }
    }
}

fn fail(msg: impl Into<String>) -> CliError {
    CliError::failure(msg)
}

fn login(ctx: &PoolContext, args: &SpotifyArgs) -> Result<(), CliError> {
    let flags = spotify::Flags {
        client_id: args.client_id.clone(),
        redirect_uri: args.redirect_uri.clone(),
        scope: args.scope.clone(),
    };
    let s = spotify::Settings::resolve(ctx, &flags)?;
    let client_id = match &s.client_id {
        Some(c) => c.clone(),
        None => wizard(ctx, args.redirect_uri.as_deref())?,
    };
    let redirect = spotify::validate_redirect(&s.redirect_uri).map_err(|e| fail(e.message))?;
    let login = spotify::Login::new(&s, &client_id);
    say("Starting Spotify PKCE login...");
    say(format!("Client ID: {client_id}"));
    say(format!("Redirect URI: {}", s.redirect_uri));
    say("Make sure this redirect URI is allow-listed in your Spotify app settings.");
    say("");
    say("Open this URL to authorize Hermes:");
    say(&login.url);
    say("");
    say(format!("Full setup guide: {}", spotify::DOCS_URL));
    say("");
    let remote = pkce::is_remote_session();
    if remote {
        ssh_hint(&s.redirect_uri, redirect.port);
    }
    // Bind before opening the browser so a fast redirect cannot miss the listener.
    let lb = Loopback::bind(LoopbackConfig {
        host: redirect.host.clone(),
        port: redirect.port,
        path: redirect.path.clone(),
        // The redirect URI must match the one allow-listed in the Spotify app exactly.
        fallback_ephemeral: false,
        success_title: "Spotify authorization received.".into(),
        success_text: "You can close this tab.".into(),
        failure_title: "Spotify authorization failed.".into(),
    })
    .map_err(|e| {
        fail(format!(
            "Could not bind Spotify callback server on {}:{}: {e}",
            redirect.host, redirect.port
        ))
        .hint("free the port or pass another allow-listed --redirect-uri")
    })?;
    let timeout = args.timeout.filter(|t| *t > 0.0).unwrap_or(180.0);
    let pending = loopback::start(
        lb,
        &WaitOptions {
            expected_state: login.state.clone(),
            timeout: Duration::from_secs_f64(timeout),
            accept_paste: true,
        },
    );
    if !args.no_browser && !remote && pkce::graphical_browser_available() {
        if pkce::open_browser(&login.url) {
            say("Browser opened for Spotify authorization.");
        } else {
            say("Could not open the browser automatically; use the URL above.");
        }
    }
    if ui::stdin_is_tty() {
        say("Waiting for the callback... (or paste the redirect URL here and press Enter)");
    }
    let got = pending.wait();
    let code = match got {
        Ok(Received::Callback(c) | Received::Pasted(c)) => c,
        Err(WaitError::TimedOut) => {
            return Err(
                fail("Spotify authorization timed out waiting for the local callback.")
                    .hint("run `hermes auth spotify` again (raise --timeout if needed)"),
            );
        }
        Err(WaitError::Flow(e)) => {
            return Err(fail(format!("Spotify authorization failed: {}", e.message)));
        }
    };
    let exchange_timeout = args.timeout.filter(|t| *t > 0.0).unwrap_or(20.0);
    let tokens = spotify::exchange(
        &s,
        &client_id,
        &login,
        &code,
        Duration::from_secs_f64(exchange_timeout),
    )
    .map_err(|e| fail(e.message))?;
    let state = spotify::state_from_tokens(&tokens, &s, &client_id, None, ctx.now());
    let path = spotify::save_state(ctx, state)?;
    say("Spotify login successful!");
    say(format!("  Auth state: {}", path.display()));
    say("  Provider state saved under providers.spotify");
    say(format!("  Docs: {}", spotify::DOCS_URL));
    Ok(())
}

fn ssh_hint(redirect_uri: &str, port: u16) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "<user>".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "<this-host>".into());
    let rule = "-".repeat(60);
    say("");
    say(&rule);
    say("Remote session detected — SSH tunnel required");
    say(&rule);
    say(format!(
        "Hermes is waiting for the OAuth callback on {redirect_uri}"
    ));
    say("but your browser is on a different machine. Run this command");
    say("in a NEW terminal on your local machine BEFORE opening the URL:");
    say("");
    say(format!("  ssh -N -L {port}:127.0.0.1:{port} {user}@{host}"));
    say("");
    say("Then open the authorize URL above in your local browser.");
    say(format!("Provider docs:      {}", spotify::DOCS_URL));
    say(format!("SSH/jump-box guide: {}", spotify::SSH_GUIDE_URL));
    say("(Or paste the full redirect URL from your browser here and press Enter.)");
    say(&rule);
    say("");
}

/// First-run setup: explains how to create a Spotify app and asks for its client id.
fn wizard(ctx: &PoolContext, redirect_flag: Option<&str>) -> Result<String, CliError> {
    let redirect_hint = redirect_flag.unwrap_or(spotify::DEFAULT_REDIRECT_URI);
    let bar = "=".repeat(70);
    say("");
    say(&bar);
    say("Spotify first-time setup");
    say(&bar);
    say("");
    say("Spotify requires every user to register their own lightweight");
    say("developer app. This takes about two minutes and only has to be");
    say("done once per machine.");
    say("");
    say(format!("Full guide: {}", spotify::DOCS_URL));
    say("");
    say("Steps:");
    say(format!(
        "  1. Opening {} in your browser...",
        spotify::DASHBOARD_URL
    ));
    say("  2. Click 'Create app' and fill in:");
    say("       App name:     anything (e.g. hermes-agent)");
    say("       Description:  anything");
    say(format!("       Redirect URI: {redirect_hint}"));
    say("       API/SDK:      Web API");
    say("  3. Agree to the terms, click Save.");
    say("  4. Open the app's Settings page and copy the Client ID.");
    say("  5. Paste it below.");
    say("");
    if ui::stdin_is_tty() && !pkce::is_remote_session() && pkce::graphical_browser_available() {
        pkce::open_browser(spotify::DASHBOARD_URL);
    }
    let Some(raw) = ui::prompt_line("Spotify Client ID: ") else {
        say("");
        return Err(fail("Spotify setup cancelled.")
            .hint("pass --client-id or set HERMES_SPOTIFY_CLIENT_ID"));
    };
    if raw.is_empty() {
        say("");
        say(format!(
            "No Client ID entered. See {} for the full guide.",
            spotify::DOCS_URL
        ));
        return Err(fail("Spotify setup cancelled: empty Client ID."));
    }
    let envfile = ctx.home.dotenv();
    save_env_value(&envfile, crate::envvars::HERMES_SPOTIFY_CLIENT_ID, &raw)?;
    if redirect_hint != spotify::DEFAULT_REDIRECT_URI {
        save_env_value(
            &envfile,
            crate::envvars::HERMES_SPOTIFY_REDIRECT_URI,
            redirect_hint,
        )?;
    }
    say("");
    say("Saved HERMES_SPOTIFY_CLIENT_ID to ~/.hermes/.env");
    say("");
    Ok(raw)
}

/// Sets `key=value` in a dotenv file (replacing an existing definition), atomically, 0600.
fn save_env_value(path: &std::path::Path, key: &str, value: &str) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    let mut done = false;
    for l in text.lines() {
        let t = l.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        if t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            if !done {
                lines.push(format!("{key}={value}"));
                done = true;
            }
            continue;
        }
        lines.push(l.to_string());
    }
    if !done {
        lines.push(format!("{key}={value}"));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    if let Some(dir) = path.parent() {
        crate::store::atomic::ensure_private_dir(dir)?;
    }
    crate::store::atomic::write_atomic(path, out.as_bytes(), 0o600)?;
    Ok(())
}
