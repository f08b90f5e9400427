//! Bare `hermes auth`: the pool table, then an arrow-key menu (add / remove / reset cooldowns /
//! rotation strategy). Without a terminal it prints the table and a hint, and never blocks.

use dialoguer::theme::ColorfulTheme;
use dialoguer::{FuzzySelect, Input, Select};

use super::add::{AddSettings, CredentialType};
use super::list;
use crate::cli::{CliError, context, say, ui};
use crate::pool::{CredentialPool, PoolContext, Strategy, manage, report};
use crate::providers::{display_name, registry};

fn theme() -> ColorfulTheme {
    ColorfulTheme::default()
}

/// `None` when the user pressed Esc / q / Ctrl-C.
fn choose(prompt: &str, items: &[String], default: usize) -> Result<Option<usize>, CliError> {
    Select::with_theme(&theme())
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact_opt()
        .map_err(|e| CliError::failure(format!("menu failed: {e}")))
}

fn pick_provider(
    ctx: &PoolContext,
    prompt: &str,
    only_with_entries: &[String],
) -> Result<Option<String>, CliError> {
    let keys: Vec<String> = if only_with_entries.is_empty() {
        let mut k: Vec<String> = registry()
            .sorted_ids()
            .into_iter()
            .map(str::to_string)
            .collect();
        k.extend(ctx.config.custom_providers().iter().map(|c| c.pool_key()));
        k
    } else {
        only_with_entries.to_vec()
    };
    let items: Vec<String> = keys
        .iter()
        .map(|k| format!("{k}  ({})", display_name(k, &ctx.config)))
        .collect();
    let pick = FuzzySelect::with_theme(&theme())
        .with_prompt(format!("{prompt} (type to filter)"))
        .items(&items)
        .default(0)
        .interact_opt()
        .map_err(|e| CliError::failure(format!("menu failed: {e}")))?;
    Ok(pick.map(|i| keys[i].clone()))
}

pub fn run() -> Result<(), CliError> {
    let ctx = context()?;
    let listings = list::collect(&ctx, None)?;
    say("Credential Pool Status");
    say("=".repeat(50));
    let table = list::render(&listings);
    if !table.is_empty() {
        say(table.trim_end_matches('\n').to_string() + "\n");
    }
    if !ui::stdin_is_tty() || !ui::stdout_is_tty() {
        say(
            "hint: no terminal, so no menu; use `hermes auth add|remove|reset <provider>` (see `hermes auth --help`)",
        );
        return Ok(());
    }
    let actions = [
        "Add a credential".to_string(),
        "Remove a credential".to_string(),
        "Reset cooldowns for a provider".to_string(),
        "Set rotation strategy for a provider".to_string(),
        "Exit".to_string(),
    ];
    let with_entries: Vec<String> = listings.iter().map(|l| l.provider.clone()).collect();
    match choose("What would you like to do?", &actions, 0)? {
        Some(0) => add(&ctx),
        Some(1) if with_entries.is_empty() => {
            say("No credentials to remove.");
            Ok(())
        }
        Some(1) => remove(&ctx, &with_entries),
        Some(2) if with_entries.is_empty() => {
            say("No credentials to reset.");
            Ok(())
        }
        Some(2) => reset(&ctx, &with_entries),
        Some(3) => strategy(&ctx),
        _ => Ok(()),
    }
}

fn add(ctx: &PoolContext) -> Result<(), CliError> {
    let Some(key) = pick_provider(ctx, "Provider to add credential for", &[])? else {
        return Ok(());
    };
    let oauth_capable = registry().get(&key).is_some_and(|p| p.default_add_oauth);
    let kind = if oauth_capable {
        let items = [
            "API key (paste a key from the provider dashboard)".to_string(),
            "OAuth login (authenticate via browser)".to_string(),
        ];
        match choose(
            &format!("{key} supports both API keys and OAuth login"),
            &items,
            0,
        )? {
            Some(0) => CredentialType::ApiKey,
            Some(_) => CredentialType::Oauth,
            None => return Ok(()),
        }
    } else {
        CredentialType::ApiKey
    };
    let label: String = Input::with_theme(&theme())
        .with_prompt("Label / account name (optional)")
        .allow_empty(true)
        .interact_text()
        .map_err(|e| CliError::failure(format!("prompt failed: {e}")))?;
    let settings = AddSettings {
        pool_key: key,
        kind,
        label: Some(label.trim().to_string()).filter(|l| !l.is_empty()),
        api_key: None,
        oauth: Default::default(),
    };
    super::add::execute(ctx, settings)
}

fn remove(ctx: &PoolContext, keys: &[String]) -> Result<(), CliError> {
    let Some(key) = pick_provider(ctx, "Provider to remove credential from", keys)? else {
        return Ok(());
    };
    let mut pool = CredentialPool::load(ctx, &key)?;
    let rows = report::rows(&mut pool)?;
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "#{}  {:<25} {:<10} {} {} [id:{}]",
                r.index, r.label, r.auth_type, r.source, r.status_text, r.id
            )
        })
        .collect();
    let Some(i) = choose("Remove which credential?", &items, 0)? else {
        return Ok(());
    };
    super::remove::run(super::remove::RemoveArgs {
        provider: key,
        target: rows[i].id.clone(),
    })
}

fn reset(ctx: &PoolContext, keys: &[String]) -> Result<(), CliError> {
    let Some(key) = pick_provider(ctx, "Provider to reset cooldowns for", keys)? else {
        return Ok(());
    };
    let mut pool = CredentialPool::load(ctx, &key)?;
    let n = pool.reset_statuses()?;
    say(format!("Reset status on {n} {key} credentials"));
    Ok(())
}

fn strategy(ctx: &PoolContext) -> Result<(), CliError> {
    let Some(key) = pick_provider(ctx, "Provider to set strategy for", &[])? else {
        return Ok(());
    };
    let current = Strategy::parse_lenient(ctx.config.strategy_value(&key));
    let items: Vec<String> = Strategy::ALL
        .iter()
        .map(|s| {
            format!(
                "{:<15} — {}{}",
                s.as_str(),
                s.describe(),
                if *s == current { " ←" } else { "" }
            )
        })
        .collect();
    let default = Strategy::ALL
        .iter()
        .position(|s| *s == current)
        .unwrap_or(0);
    let Some(i) = choose(
        &format!("Strategy for {key} (current: {current})"),
        &items,
        default,
    )?
    else {
        return Ok(());
    };
    let chosen = Strategy::ALL[i];
    let mut config = (*ctx.config).clone();
    config.set(
        &["credential_pool_strategies", &key],
        serde_yaml::Value::String(chosen.as_str().into()),
    )?;
    say(format!("Set {key} strategy to: {chosen}"));
    let _ = manage::is_addable(&key);
    Ok(())
}
