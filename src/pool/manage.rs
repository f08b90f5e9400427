//! The pool operations behind `hermes auth add|remove|reset`: adding a key, removing an entry
//! with the cleanup its source needs, restoring suppressed sources.

use super::{CredentialPool, PoolContext, PoolEntry, PoolError, entry::AUTH_API_KEY};
use crate::providers::{OPENROUTER, registry};
use crate::secret::Secret;
use crate::store::{AuthStore, StoreLock, dotenv};

/// The base URL a manual key for `key` is stored with.
pub fn base_url_for(ctx: &PoolContext, key: &str) -> String {
    if key.starts_with("custom:") {
        return ctx
            .config
            .custom_provider(key)
            .map(|c| c.base_url)
            .unwrap_or_default();
    }
    registry()
        .get(key)
        .map(|p| p.default_base_url.clone())
        .unwrap_or_default()
}

/// Clears every suppression marker of a built-in provider (as `auth add` does).
/// Custom pools keep theirs: use [`restore_sources`].
pub fn unsuppress_for_add(ctx: &PoolContext, key: &str) -> Result<(), PoolError> {
    if key.starts_with("custom:") {
        return Ok(());
    }
    restore_sources(ctx, key).map(|_| ())
}

/// Removes every suppression marker of `key`; returns the sources re-enabled.
pub fn restore_sources(ctx: &PoolContext, key: &str) -> Result<Vec<String>, PoolError> {
    let snapshot = AuthStore::load(&ctx.home)?;
    if snapshot.suppressed(key).is_empty() {
        return Ok(vec![]);
    }
    let lock = StoreLock::acquire(&ctx.home)?;
    let mut store = AuthStore::load_locked(&lock)?;
    let markers = store.suppressed(key);
    if store.unsuppress_all(key) {
        store.save(&lock)?;
    }
    Ok(markers)
}

/// Adds a manual API key; returns its 1-based position and label. Without a label the
/// entry gets the first free `api-key-N`, chosen under the store lock.
pub fn add_api_key(
    pool: &mut CredentialPool,
    label: Option<&str>,
    key: &Secret,
) -> Result<(usize, String), PoolError> {
    let mut e = PoolEntry::new(label.unwrap_or(""), AUTH_API_KEY, "manual");
    e.access_token = Some(key.expose().to_string());
    e.base_url = Some(base_url_for(pool.context(), pool.key()));
    match label {
        Some(l) => Ok((pool.add(e)?, l.to_string())),
        None => pool.add_with_free_label(e, "api-key"),
    }
}

/// What removing an entry did besides deleting it.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Lines to print after `Removed …` (cleanup results and hints).
    pub lines: Vec<String>,
}

fn tilde(path: &std::path::Path) -> String {
    if let Some(home) = crate::home::user_home()
        && let Ok(rest) = path.strip_prefix(&home)
    {
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

/// Runs the source-specific cleanup after `removed` left pool `key`: clears the backing state
/// it came from where we own it, suppresses re-seeding, and explains how to undo it.
pub fn cleanup_after_remove(
    ctx: &PoolContext,
    key: &str,
    removed: &PoolEntry,
) -> Result<Cleanup, PoolError> {
    let source = removed.source.as_str();
    let mut out = Cleanup::default();
    let mut suppress: Vec<String> = vec![];
    let mut clear_provider: Option<&str> = None;
    let home = &ctx.home;
    let manual_codex = key == "openai-codex" && source.ends_with("device_code");
    if key == "copilot" && (source == "gh_cli" || source.starts_with("env:")) {
        suppress.extend(
            [
                "gh_cli",
                "env:COPILOT_GITHUB_TOKEN",
                "env:GH_TOKEN",
                "env:GITHUB_TOKEN",
            ]
            .map(String::from),
        );
        out.lines.push("Suppressed all copilot token sources (gh_cli + env vars) — they will not be re-seeded.".into());
        out.lines
            .push("Note: Your gh CLI / shell environment is unchanged.".into());
        out.lines
            .push("Run `hermes auth add copilot` to re-enable if needed.".into());
    } else if let Some(var) = source.strip_prefix("env:") {
        suppress.push(source.to_string());
        let envfile = home.dotenv();
        if dotenv::defines(&envfile, var) && dotenv::remove_var(&envfile, var)? {
            out.lines.push(format!("Cleared {var} from .env"));
            out.lines.push(format!(
                "Suppressed {source} — it will not be re-seeded even if the variable is re-exported later."
            ));
        } else if ctx.env.in_process(var) {
            out.lines.push(format!(
                "Note: {var} is still set in your shell environment (not in {}).",
                tilde(&envfile)
            ));
            out.lines.push(
                "  Unset it there (shell profile, systemd EnvironmentFile, launchd plist, etc.) or it will keep being visible to Hermes."
                    .into(),
            );
            out.lines.push(format!(
                "  The pool entry is now suppressed — Hermes will ignore {var} until you run `hermes auth add {key}`."
            ));
        } else {
            out.lines.push(format!(
                "Suppressed {source} — it will not be re-seeded even if the variable is re-exported later."
            ));
            out.lines
                .push(format!("Run `hermes auth add {key}` to re-enable it."));
        }
    } else if key == "anthropic" && source == "claude_code" {
        suppress.push(source.into());
        out.lines
            .push("Suppressed claude_code credential — it will not be re-seeded.".into());
        out.lines
            .push("Note: Claude Code credentials still live in ~/.claude/.credentials.json".into());
        out.lines
            .push("Run `hermes auth add anthropic` to re-enable if needed.".into());
    } else if key == "anthropic" && source == "hermes_pkce" {
        suppress.push(source.into());
        let path = home.anthropic_oauth_json();
        match std::fs::remove_file(&path) {
            Ok(()) => out
                .lines
                .push("Cleared Hermes Anthropic OAuth credentials".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out
                .lines
                .push(format!("Could not delete {}: {e}", path.display())),
        }
    } else if key == crate::providers::oauth::gemini::ID
        && source == crate::providers::oauth::gemini::SOURCE
    {
        out.lines
            .extend(crate::providers::oauth::gemini::forget_removed(
                home, removed,
            ));
    } else if key == "nous" && source == "device_code" {
        suppress.push(source.into());
        clear_provider = Some("nous");
        out.lines
            .push("Cleared nous OAuth tokens from auth store".into());
    } else if manual_codex {
        suppress.push("device_code".into());
        if source != "device_code" {
            suppress.push(source.into());
        }
        clear_provider = Some("openai-codex");
        out.lines
            .push("Suppressed openai-codex device_code source — it will not be re-seeded.".into());
        out.lines
            .push("Note: Codex CLI credentials still live in ~/.codex/auth.json".into());
        out.lines
            .push("Run `hermes auth add openai-codex` to re-enable if needed.".into());
    } else if key == "xai-oauth" && source == "device_code" {
        suppress.push(source.into());
        clear_provider = Some("xai-oauth");
        out.lines
            .push("Cleared xai-oauth OAuth tokens from auth store".into());
        out.lines.push(
            "Run `hermes model` → xAI Grok OAuth (SuperGrok / Premium+) to re-authenticate if needed.".into(),
        );
    } else if key == "qwen-oauth" && source == "qwen-cli" {
        suppress.push(source.into());
        out.lines
            .push("Suppressed qwen-cli credential — it will not be re-seeded.".into());
        out.lines
            .push("Note: Qwen CLI credentials still live in ~/.qwen/oauth_creds.json".into());
        out.lines
            .push("Run `hermes auth add qwen-oauth` to re-enable if needed.".into());
    } else if key == "minimax-oauth" && source == "oauth" {
        suppress.push(source.into());
        clear_provider = Some("minimax-oauth");
        out.lines
            .push("Cleared minimax-oauth OAuth tokens from auth store".into());
    } else if source.starts_with("config:") || source == "model_config" {
        suppress.push(source.into());
        out.lines
            .push(format!("Suppressed {source} — it will not be re-seeded."));
        out.lines.push(
            "Note: The underlying value in config.yaml is unchanged.  Edit it directly if you want to remove the credential from disk."
                .into(),
        );
        out.lines.push(format!(
            "Run `hermes auth reset {key} --restore-sources` to re-enable it."
        ));
    }
    if !suppress.is_empty() || clear_provider.is_some() {
        let lock = StoreLock::acquire(home)?;
        let mut store = AuthStore::load_locked(&lock)?;
        let mut changed = false;
        if let Some(p) = clear_provider {
            let had = store.remove_provider_state(p);
            changed |= had;
            if manual_codex && had {
                out.lines.insert(
                    0,
                    "Cleared openai-codex OAuth tokens from auth store".into(),
                );
            }
        }
        for s in &suppress {
            changed |= store.suppress(key, s);
        }
        if changed {
            store.save(&lock)?;
        }
    }
    Ok(out)
}

/// `true` for pool keys `auth add` accepts.
pub fn is_addable(key: &str) -> bool {
    key == OPENROUTER || crate::providers::is_known_pool_key(key)
}
