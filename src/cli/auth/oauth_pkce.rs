//! `hermes auth add` for the PKCE / import OAuth providers: anthropic, google-gemini-cli,
//! qwen-oauth. Terminal I/O lives here; the flows are in `crate::providers::oauth`.

use super::add::AddSettings;
use crate::cli::{CliError, say, ui};
use crate::pool::{CredentialPool, PoolContext, PoolEntry, manage};
use crate::providers::oauth::loopback::{self, Loopback, LoopbackConfig, WaitError, WaitOptions};
use crate::providers::oauth::{anthropic, gemini, pkce, qwen};

/// Flags of `auth add` that the browser flows use.
#[derive(Debug, Clone, Default)]
pub struct BrowserFlags {
    pub no_browser: bool,
    pub timeout: Option<f64>,
}

/// Runs the `auth add` OAuth flow of `s.pool_key`; `None` when this module has no flow for it.
pub fn run(ctx: &PoolContext, s: &AddSettings) -> Option<Result<(), CliError>> {
    let flags = &BrowserFlags {
        no_browser: s.oauth.no_browser,
        timeout: s.oauth.timeout,
    };
    Some(match s.pool_key.as_str() {
        "anthropic" => add_anthropic(ctx, s.label.clone(), flags),
        "google-gemini-cli" => add_gemini(ctx, s.label.clone(), flags),
        "qwen-oauth" => add_qwen(ctx, s.label.clone()),
        _ => return None,
    })
}

fn no_credentials() -> CliError {
    CliError::failure("Anthropic OAuth login did not return credentials.")
}

fn add_anthropic(
    ctx: &PoolContext,
    label: Option<String>,
    flags: &BrowserFlags,
) -> Result<(), CliError> {
    const KEY: &str = "anthropic";
    let mut pool = CredentialPool::load(ctx, KEY)?;
    let login = anthropic::Login::new();
    say("");
    say("Authorize Hermes with your Claude Pro/Max subscription.");
    say("");
    say("╭─ Claude Pro/Max Authorization ────────────────────╮");
    say("│                                                   │");
    say("│  Open this link in your browser:                  │");
    say("╰───────────────────────────────────────────────────╯");
    say("");
    say(format!("  {}", login.url));
    say("");
    if !flags.no_browser
        && !pkce::is_remote_session()
        && pkce::graphical_browser_available()
        && pkce::open_browser(&login.url)
    {
        say("  (Browser opened automatically)");
    }
    say("");
    say("After authorizing, you'll see a code. Paste it below.");
    say("");
    let tty = ui::stdin_is_tty();
    let Some(input) = ui::prompt_line("Authorization code: ") else {
        if tty {
            return Err(no_credentials());
        }
        say("");
        return Err(CliError::usage(
            "No authorization code: standard input is not a terminal and was empty.",
        )
        .hint(
            "pipe the code shown after authorizing: echo 'CODE#STATE' | hermes auth add anthropic",
        ));
    };
    let pasted = match pkce::parse_pasted(&input) {
        Ok(Some(p)) => p,
        Ok(None) => {
            say("No code entered.");
            return Err(no_credentials());
        }
        Err(e) => return Err(no_credentials().hint(e.message)),
    };
    if pasted.state.as_deref() != Some(login.state.as_str()) {
        return Err(no_credentials().hint(
            "the pasted value's state does not match this login (paste the whole `code#state` shown for this login)",
        ));
    }
    let tokens = match anthropic::exchange_code(&login, &pasted.code, ctx.now()) {
        Ok(t) => t,
        Err(e) => {
            say(&e.message);
            return Err(no_credentials().hint("run `hermes auth add anthropic` again"));
        }
    };
    manage::unsuppress_for_add(ctx, KEY)?;
    let label = label
        .or_else(|| crate::jwt::label(&tokens.access_token))
        .unwrap_or_else(|| pool.next_free_label("anthropic-oauth"));
    let mut e = PoolEntry::new(&label, crate::pool::entry::AUTH_OAUTH, anthropic::SOURCE);
    e.access_token = Some(tokens.access_token);
    e.refresh_token = tokens.refresh_token;
    e.expires_at_ms = Some(tokens.expires_at_ms);
    e.base_url = Some(anthropic::BASE_URL.into());
    let n = pool.add(e)?;
    say(format!("Added {KEY} OAuth credential #{n}: \"{label}\""));
    Ok(())
}

fn add_gemini(
    ctx: &PoolContext,
    label: Option<String>,
    flags: &BrowserFlags,
) -> Result<(), CliError> {
    const KEY: &str = gemini::ID;
    let mut pool = CredentialPool::load(ctx, KEY)?;
    let lb = Loopback::bind(LoopbackConfig {
        host: gemini::REDIRECT_HOST.into(),
        port: gemini::REDIRECT_PORT,
        path: gemini::REDIRECT_PATH.into(),
        fallback_ephemeral: true,
        success_title: "Google Gemini authorization received.".into(),
        success_text: "You can close this tab.".into(),
        failure_title: "Google Gemini authorization failed.".into(),
    })
    .map_err(|e| {
        CliError::failure(format!(
            "Could not start the local callback server on 127.0.0.1: {e}"
        ))
    })?;
    let login = gemini::Login::new(&lb.redirect_uri());
    say("Sign in to Google to authorize the Gemini CLI login.");
    say("");
    say("Open this URL to authorize Hermes:");
    say(&login.url);
    say("");
    say(format!(
        "Waiting for the browser to return to {}",
        login.redirect_uri
    ));
    let timeout = flags.timeout.filter(|t| *t > 0.0).unwrap_or(300.0);
    let pending = loopback::start(
        lb,
        &WaitOptions {
            expected_state: login.state.clone(),
            timeout: std::time::Duration::from_secs_f64(timeout),
            accept_paste: true,
        },
    );
    let headless = gemini::headless();
    if !flags.no_browser && !headless && pkce::graphical_browser_available() {
        if pkce::open_browser(&login.url) {
            say("Browser opened for Google authorization.");
        } else {
            say("Could not open the browser automatically; use the URL above.");
        }
    }
    if ui::stdin_is_tty() || headless {
        say(
            "If the browser runs on another machine, paste the redirect URL it ends on (or the code) here and press Enter.",
        );
    }
    let code = match pending.wait() {
        Ok(loopback::Received::Callback(c) | loopback::Received::Pasted(c)) => c,
        Err(WaitError::TimedOut) => {
            return Err(CliError::failure(
                "Google Gemini authorization timed out waiting for the local callback.",
            )
            .hint(format!(
                "run `hermes auth add {KEY}` again (raise --timeout if needed)"
            )));
        }
        Err(WaitError::Flow(e)) => {
            return Err(CliError::failure(format!(
                "Google Gemini authorization failed: {}",
                e.message
            )));
        }
    };
    let net_timeout =
        std::time::Duration::from_secs_f64(flags.timeout.filter(|t| *t > 0.0).unwrap_or(20.0));
    let tokens = gemini::exchange(&login, &code, ctx.now(), net_timeout).map_err(|e| {
        CliError::failure(e.message).hint(format!("run `hermes auth add {KEY}` again"))
    })?;
    manage::unsuppress_for_add(ctx, KEY)?;
    let label = label
        .or_else(|| tokens.email.clone())
        .unwrap_or_else(|| pool.next_free_label(&format!("{KEY}-oauth")));
    let n = gemini::save_login(ctx, &mut pool, &tokens, &label)?;
    say(format!("Added {KEY} OAuth credential #{n}: \"{label}\""));
    Ok(())
}

fn add_qwen(ctx: &PoolContext, label: Option<String>) -> Result<(), CliError> {
    const KEY: &str = qwen::ID;
    let mut pool = CredentialPool::load(ctx, KEY)?;
    let imported = qwen::import(ctx).map_err(|e| {
        CliError::failure(e.message)
            .hint("sign in with the Qwen CLI first (`qwen`), then run `hermes auth add qwen-oauth`")
    })?;
    manage::unsuppress_for_add(ctx, KEY)?;
    let label = label
        .or_else(|| crate::jwt::label(&imported.access_token))
        .unwrap_or_else(|| pool.next_free_label(&format!("{KEY}-oauth")));
    let mut e = PoolEntry::new(&label, crate::pool::entry::AUTH_OAUTH, qwen::SOURCE);
    e.access_token = Some(imported.access_token);
    e.expires_at_ms = imported.expires_at_ms;
    e.base_url = Some(imported.base_url);
    let n = pool.add(e)?;
    say(format!("Added {KEY} OAuth credential #{n}: \"{label}\""));
    Ok(())
}
