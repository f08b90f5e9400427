//! The OAuth branch of `hermes auth add`: settings → the provider's login flow → one line.

use super::add::AddSettings;
use crate::cli::{CliError, say};
use crate::pool::PoolContext;
use crate::providers::oauth::{codex, copilot, minimax, nous, xai};

/// The shared-store offer: `--import-shared` / `--no-import-shared`, else a `[Y/n]` prompt on a
/// terminal. Without a terminal nothing is imported (an EOF is never read as "yes").
fn ask_import_shared(ctx: &PoolContext, flag: Option<bool>) -> Result<bool, CliError> {
    if flag == Some(false) || nous::read_shared(&ctx.home).is_none() {
        return Ok(false);
    }
    let path = nous::shared_path(&ctx.home);
    say("");
    say(format!(
        "Found existing Nous OAuth credentials at {}",
        path.display()
    ));
    if let Some(v) = flag {
        return Ok(v);
    }
    if !crate::cli::ui::stdin_is_tty() {
        say("Not importing them without a terminal (pass --import-shared to use them).");
        return Ok(false);
    }
    let answer = crate::cli::ui::prompt_line("Import these credentials? [Y/n]: ");
    Ok(matches!(
        answer.as_deref().map(str::to_lowercase).as_deref(),
        Some("") | Some("y") | Some("yes")
    ))
}

/// From now on Ctrl-C ends the running login with `\nLogin cancelled.` and exit 130 (the
/// reference's wording) instead of dying mid-line. Store writes are atomic renames under the
/// lock, so an interrupted login leaves the previous state intact.
pub(crate) fn cancel_on_ctrl_c() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                // Registered on creation: the caller goes on only once Ctrl-C is ours.
                let sig = signal(SignalKind::interrupt());
                let _ = tx.send(());
                if let Ok(mut sig) = sig
                    && sig.recv().await.is_some()
                {
                    say("\nLogin cancelled.");
                    std::process::exit(130);
                }
            });
        });
        let _ = rx.recv();
    });
}

pub fn run(ctx: &PoolContext, s: &AddSettings) -> Result<(), CliError> {
    let o = &s.oauth;
    match s.pool_key.as_str() {
        "nous" => {
            let import_shared = ask_import_shared(ctx, o.import_shared)?;
            let out = nous::login(
                ctx,
                &nous::LoginSettings {
                    label: s.label.clone(),
                    portal_url: o.portal_url.clone(),
                    inference_url: o.inference_url.clone(),
                    client_id: o.client_id.clone(),
                    scope: o.scope.clone(),
                    no_browser: o.no_browser,
                    timeout: o.timeout,
                    insecure: o.insecure,
                    ca_bundle: o.ca_bundle.clone(),
                    min_key_ttl: o.min_key_ttl_seconds,
                    import_shared,
                },
            )?;
            if out.imported {
                say(format!(
                    "Imported nous OAuth credentials: \"{}\"",
                    out.label
                ));
            } else {
                say(format!(
                    "Saved nous OAuth device-code credentials: \"{}\"",
                    out.label
                ));
            }
        }
        "openai-codex" => {
            let (n, label) = codex::login(
                ctx,
                &codex::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                },
            )?;
            say(format!(
                "Added openai-codex OAuth credential #{n}: \"{label}\""
            ));
        }
        "xai-oauth" => {
            let (n, label) = xai::login(
                ctx,
                &xai::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!(
                "Added xai-oauth OAuth credential #{n}: \"{label}\""
            ));
        }
        "minimax-oauth" => {
            let (n, label) = minimax::login(
                ctx,
                &minimax::LoginSettings {
                    label: s.label.clone(),
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!(
                "Added minimax-oauth OAuth credential #{n}: \"{label}\""
            ));
        }
        "copilot" => {
            let path = copilot::device_login(
                ctx,
                &copilot::LoginSettings {
                    timeout: o.timeout,
                    no_browser: o.no_browser,
                },
            )?;
            say(format!("Saved COPILOT_GITHUB_TOKEN to {}", path.display()));
        }
        other => {
            return Err(CliError::failure(format!("no OAuth login for {other}")));
        }
    }
    Ok(())
}
