//! `hermes auth add` for the PKCE / import OAuth providers: anthropic, google-gemini-cli,
//! qwen-oauth. Terminal I/O lives here; the flows are in `crate::providers::oauth`.

use super::add::AddSettings;
use crate::cli::{CliError, say, ui};
use crate::pool::{CredentialPool, PoolContext, PoolEntry, manage};
use crate::providers::oauth::{anthropic, pkce};

/// Flags of `auth add` that the browser flows use.
#[derive(Debug, Clone, Default)]
pub struct BrowserFlags {
    pub no_browser: bool,
    pub timeout: Option<f64>,
}

/// Runs the `auth add` OAuth flow of `s.pool_key`; `None` when this module has no flow for it.
pub fn run(
    ctx: &PoolContext,
    s: &AddSettings,
    flags: &BrowserFlags,
) -> Option<Result<(), CliError>> {
    Some(match s.pool_key.as_str() {
        "anthropic" => add_anthropic(ctx, s.label.clone(), flags),
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
