//! The interactive flows of `hermes model` (also run by `hermes setup model`).

use super::term::{self, Item, paint};
use crate::cli::auth::add::{self, AddSettings, CredentialType, OAuthSettings};
use crate::cli::{CliError, say};
use crate::model::{self, CredState, ListSource, ModelError, ModelList, RowKind, SaveNotes};
use crate::pool::PoolContext;
use crate::providers::{Provider, registry};
use crate::store::Config;
use crate::store::config::CustomProvider;

pub fn model_err(e: ModelError) -> CliError {
    match e {
        ModelError::Store(s) => s.into(),
        ModelError::Pool(p) => p.into(),
        ModelError::UnknownProvider(p) => CliError::unknown_provider(&p),
        ModelError::Invalid(m) => CliError::usage(m),
    }
}

pub fn print_notes(n: &SaveNotes) {
    if let Some(old) = &n.cleared_openai_base_url {
        let shown: String = if old.chars().count() > 40 {
            old.chars().take(40).collect::<String>() + "..."
        } else {
            old.clone()
        };
        say(format!(
            "Cleared stale OPENAI_BASE_URL from .env (was: {shown})"
        ));
    }
}

/// Whether a flow changed the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    NoChange,
}

fn no_change() -> Result<Outcome, CliError> {
    say("No change.");
    Ok(Outcome::NoChange)
}

/// Re-reads config.yaml and `.env` after a flow wrote them.
fn reload(ctx: &PoolContext) -> Result<PoolContext, CliError> {
    Ok(PoolContext::from_env(ctx.home.clone())?)
}

fn header(ctx: &PoolContext) {
    let cur = model::current(ctx);
    if let Some(p) = &cur.unknown {
        say(format!(
            "Warning: Unknown provider '{p}'. Check 'hermes model --list' for available providers."
        ));
    }
    say("");
    say(format!(
        "  Current model:    {}",
        cur.model.as_deref().unwrap_or("(not set)")
    ));
    say(format!("  Active provider:  {}", cur.label));
    if let Some(u) = &cur.base_url {
        say(format!("  Base URL:         {u}"));
    }
    say("");
}

/// How the picker runs: `--refresh`, and the flags of a login it starts.
#[derive(Debug, Default)]
pub struct PickOptions {
    pub refresh: bool,
    pub oauth: OAuthSettings,
}

/// The whole picker: header, provider menu, the provider's flow.
pub fn pick(ctx: &PoolContext, opts: &PickOptions) -> Result<Outcome, CliError> {
    let refresh = opts.refresh;
    // A store that cannot be read stops the picker before any question (the saves need it).
    crate::store::AuthStore::load(&ctx.home)?;
    if refresh {
        say("  Model lists will be fetched fresh (--refresh).");
    }
    header(ctx);
    let rows = model::picker_rows(ctx);
    let items: Vec<Item> = rows
        .iter()
        .map(|r| {
            let mut t = r.text.clone();
            if r.ready {
                let label = match &r.kind {
                    RowKind::Provider(k) if registry().get(k).is_some_and(model::is_oauth) => {
                        Some("  ✓ signed in")
                    }
                    RowKind::Provider(_) => Some("  ✓ key set"),
                    RowKind::Group { .. } => Some("  ✓ configured"),
                    _ => None,
                };
                if let Some(l) = label {
                    t.push_str(&paint(l, "32"));
                }
            }
            if r.active {
                t.push_str("  ← currently active");
            }
            Item::new(t)
        })
        .collect();
    let detected = model::current(ctx).detected.map(|(id, _)| id);
    let default = rows
        .iter()
        .position(|r| r.active)
        .or_else(|| {
            rows.iter().position(|r| match (&r.kind, &detected) {
                (RowKind::Provider(k), Some(d)) => k == d,
                (RowKind::Group { members, .. }, Some(d)) => members.contains(d),
                _ => false,
            })
        })
        .unwrap_or(0);
    let Some(i) = term::select("Select provider:", &items, default, true)? else {
        return no_change();
    };
    let outcome = match &rows[i].kind {
        RowKind::Leave => return no_change(),
        RowKind::Group { title, members } => {
            let cur = model::current(ctx).provider;
            let mitems: Vec<Item> = members
                .iter()
                .map(|m| {
                    let text = model::catalog::PICKER_ROWS
                        .iter()
                        .find(|(k, _)| k == m)
                        .map_or(m.as_str(), |(_, t)| t);
                    Item::new(text)
                })
                .collect();
            let d = members
                .iter()
                .position(|m| Some(m) == cur.as_ref())
                .unwrap_or(0);
            let Some(j) = term::select(&format!("Select {title} provider:"), &mitems, d, false)?
            else {
                return no_change();
            };
            provider_flow(ctx, &members[j], opts)?
        }
        RowKind::Provider(k) => provider_flow(ctx, k, opts)?,
        RowKind::SavedCustom(cp) => saved_custom_flow(ctx, cp, refresh)?,
        RowKind::NewCustom => custom_endpoint_flow(ctx)?,
        RowKind::RemoveCustom => remove_custom_flow(ctx)?,
    };
    Ok(outcome)
}

fn provider_flow(ctx: &PoolContext, key: &str, opts: &PickOptions) -> Result<Outcome, CliError> {
    let refresh = opts.refresh;
    let Some(p) = registry().get(key) else {
        return Err(CliError::unknown_provider(key));
    };
    // Keys and URLs typed here are written only once a model is chosen, so that Esc or Ctrl-C
    // anywhere in the flow leaves every file as it was.
    let mut pending = Pending::default();
    let go_on = if model::is_oauth(p) {
        oauth_step(ctx, p, &opts.oauth)?
    } else if p.id == "anthropic" {
        anthropic_step(ctx, p, &mut pending, &opts.oauth)?
    } else {
        api_key_step(ctx, p, &mut pending)?
    };
    if !go_on {
        return Ok(Outcome::NoChange);
    }
    let ctx = reload(ctx)?;
    let base = if model::is_oauth(p) || p.id == "anthropic" || p.id == "openrouter" {
        model::effective_base_url(&ctx, p)
    } else {
        base_url_step(&ctx, p, &mut pending)?
    };
    let list = model::provider_models(&ctx, p, Some(&base), pending.key.as_deref(), refresh);
    describe_list(&list, &p.display_name);
    let current = model::current(&ctx)
        .model
        .filter(|_| ctx.config.model_provider() == Some(p.id.as_str()));
    let Some(m) = model_picker(&list.models, current.as_deref(), "Select default model:")? else {
        return no_change();
    };
    pending.write(&ctx)?;
    let ctx = reload(&ctx)?;
    let mut config = (*ctx.config).clone();
    let notes = model::save_provider_choice(&ctx, &mut config, p, &m, &base).map_err(model_err)?;
    say(format!(
        "Default model set to: {m} (via {})",
        p.display_name
    ));
    print_notes(&notes);
    Ok(Outcome::Changed)
}

/// `.env` changes a flow makes once it completes.
#[derive(Default)]
struct Pending {
    /// The provider key typed in this flow (used to list models before it is saved).
    key: Option<String>,
    set: Vec<(String, String)>,
    clear: Vec<String>,
}

impl Pending {
    fn write(&self, ctx: &PoolContext) -> Result<(), CliError> {
        for (var, value) in &self.set {
            model::set_env_var(ctx, var, value)?;
        }
        for var in &self.clear {
            model::clear_env_var(ctx, var)?;
        }
        if !self.set.is_empty() || !self.clear.is_empty() {
            say(format!("  Saved to {}", ctx.home.dotenv().display()));
        }
        Ok(())
    }
}

fn describe_list(list: &ModelList, name: &str) {
    let n = list.models.len();
    match list.source {
        ListSource::Live => say(format!("  Found {n} model(s) from {name} API")),
        ListSource::Cache => say(format!(
            "  {n} model(s) from {name} (cached within the hour; --refresh fetches again)"
        )),
        ListSource::StaleCache => say(format!(
            "  Could not reach {name}; showing {n} model(s) from an older cached list."
        )),
        ListSource::Offline => say(format!(
            "  Showing {n} curated models — use \"Enter custom model name\" for others."
        )),
        ListSource::None => {}
    }
}

const CUSTOM_ROW: &str = "Enter custom model name";
const SKIP_ROW: &str = "Skip (keep current)";

/// The model picker: current model first, fuzzy search, "Enter custom model name" and "Skip".
/// `None` = nothing chosen.
pub fn model_picker(
    models: &[String],
    current: Option<&str>,
    title: &str,
) -> Result<Option<String>, CliError> {
    if models.is_empty() {
        return Ok(term::read_line("Model name: ", false)?.filter(|s| !s.is_empty()));
    }
    let mut ordered: Vec<&String> = Vec::new();
    if let Some(c) = current
        && let Some(m) = models.iter().find(|m| *m == c)
    {
        ordered.push(m);
    }
    for m in models {
        if !ordered.contains(&m) {
            ordered.push(m);
        }
    }
    let mut items: Vec<Item> = ordered
        .iter()
        .map(|m| {
            if Some(m.as_str()) == current {
                Item::new(format!("{m}  ← currently in use"))
            } else {
                Item::new(m.as_str())
            }
        })
        .collect();
    items.push(Item::extra(CUSTOM_ROW));
    items.push(Item::extra(SKIP_ROW));
    let Some(i) = term::select(title, &items, 0, true)? else {
        return Ok(None);
    };
    if i < ordered.len() {
        return Ok(Some(ordered[i].clone()));
    }
    if i == ordered.len() {
        return Ok(term::read_line("Enter model name: ", false)?.filter(|s| !s.is_empty()));
    }
    Ok(None)
}

fn mask(v: &str) -> String {
    let head: String = v.chars().take(8).collect();
    format!("{head}...")
}

/// §6.6: `[K]eep / [R]eplace / [C]lear` for an existing key, else a masked prompt. Keys go to
/// `$HERMES_HOME/.env`. Returns whether the flow goes on.
fn api_key_step(ctx: &PoolContext, p: &Provider, pending: &mut Pending) -> Result<bool, CliError> {
    let Some(var) = p.api_key_env_vars.first() else {
        return Ok(true);
    };
    let store = crate::store::AuthStore::load(&ctx.home)?;
    match model::cred_state(ctx, &store, &p.id) {
        CredState::EnvKey(_, value) => {
            say(format!("  {} API key: {} ✓", p.display_name, mask(&value)));
            let answer = term::read_line("  [K]eep / [R]eplace / [C]lear (default K): ", false)?
                .unwrap_or_default()
                .to_lowercase();
            if answer.starts_with('r') {
                match term::read_line(&format!("{var} (or Enter to cancel): "), true)? {
                    Some(k) if !k.is_empty() => {
                        pending.set.push((var.clone(), k.clone()));
                        pending.key = Some(k);
                        say("  API key updated (saved once you pick a model).");
                    }
                    _ => say("  No change."),
                }
                say("");
            } else if answer.starts_with('c') {
                model::clear_env_var(ctx, var)?;
                say(format!(
                    "  API key cleared.  Re-run `hermes model` to configure {} again.",
                    p.display_name
                ));
                return Ok(false);
            } else {
                say("");
            }
            Ok(true)
        }
        CredState::Stored(n) => {
            say(format!(
                "  {} credentials: ✓ ({n} in the credential pool)",
                p.display_name
            ));
            say("");
            Ok(true)
        }
        CredState::None => {
            if p.id == "openrouter" {
                say("Get one at: https://openrouter.ai/keys");
                say("");
            }
            say(format!("No {} API key configured.", p.display_name));
            let prompt = if p.id == "lmstudio" {
                format!("{var} (Enter for no-auth default 'dummy-lm-api-key'): ")
            } else {
                format!("{var} (or Enter to cancel): ")
            };
            let key = match term::read_line(&prompt, true)? {
                Some(k) if !k.is_empty() => k,
                Some(_) if p.id == "lmstudio" => "dummy-lm-api-key".to_string(),
                _ => {
                    say("Cancelled.");
                    return Ok(false);
                }
            };
            pending.set.push((var.clone(), key.clone()));
            pending.key = Some(key);
            say("API key accepted (saved once you pick a model).");
            say("");
            Ok(true)
        }
    }
}

fn base_url_step(
    ctx: &PoolContext,
    p: &Provider,
    pending: &mut Pending,
) -> Result<String, CliError> {
    let current = model::effective_base_url(ctx, p);
    let answer = term::read_line(&format!("Base URL [{current}]: "), false)?.unwrap_or_default();
    if answer.is_empty() {
        return Ok(current);
    }
    if !(answer.starts_with("http://") || answer.starts_with("https://")) {
        say("  Invalid URL — must start with http:// or https://. Keeping current value.");
        return Ok(current);
    }
    let answer = answer.trim_end_matches('/').to_string();
    if let Some(var) = &p.base_url_env {
        pending.set.push((var.clone(), answer.clone()));
    }
    Ok(answer)
}

/// Starts the OAuth login the auth commands own (`hermes auth add <p> --type oauth`).
fn oauth_login(ctx: &PoolContext, p: &Provider, oauth: &OAuthSettings) -> Result<bool, CliError> {
    let settings = AddSettings {
        pool_key: p.id.clone(),
        kind: CredentialType::Oauth,
        label: None,
        api_key: None,
        oauth: oauth.clone(),
    };
    match add::execute(ctx, settings) {
        Ok(()) => Ok(true),
        Err(e) => {
            eprintln!("{e}");
            say("Login cancelled or failed.");
            Ok(false)
        }
    }
}

fn oauth_step(ctx: &PoolContext, p: &Provider, oauth: &OAuthSettings) -> Result<bool, CliError> {
    let store = crate::store::AuthStore::load(&ctx.home)?;
    if model::cred_state(ctx, &store, &p.id).ready() {
        say(format!("  {} credentials: ✓", p.display_name));
        say("");
        let items = [
            Item::new("Use existing credentials"),
            Item::new("Reauthenticate (new OAuth login)"),
            Item::new("Cancel"),
        ];
        match term::select(
            &format!("{} credentials:", p.display_name),
            &items,
            0,
            false,
        )? {
            Some(0) => Ok(true),
            Some(1) => {
                say(format!("Starting a fresh {} login...", p.display_name));
                oauth_login(ctx, p, oauth)
            }
            _ => {
                say("No change.");
                Ok(false)
            }
        }
    } else {
        say(format!(
            "Not logged into {}. Starting login...",
            p.display_name
        ));
        say("");
        oauth_login(ctx, p, oauth)
    }
}

fn anthropic_step(
    ctx: &PoolContext,
    p: &Provider,
    pending: &mut Pending,
    oauth: &OAuthSettings,
) -> Result<bool, CliError> {
    let store = crate::store::AuthStore::load(&ctx.home)?;
    let state = model::cred_state(ctx, &store, &p.id);
    if state.ready() {
        match &state {
            CredState::EnvKey(_, v) => {
                let head: String = v.chars().take(12).collect();
                say(format!("  Anthropic credentials: {head}... ✓"));
            }
            _ => say("  Anthropic credentials: ✓"),
        }
        say("");
        let items = [
            Item::new("Use existing credentials"),
            Item::new("Reauthenticate (new OAuth login or API key)"),
            Item::new("Cancel"),
        ];
        match term::select("Anthropic credentials:", &items, 0, false)? {
            Some(0) => return Ok(true),
            Some(1) => {}
            _ => {
                say("No change.");
                return Ok(false);
            }
        }
    }
    let items = [
        Item::new("Claude Pro/Max subscription (OAuth login)"),
        Item::new("Anthropic API key (pay-per-token)"),
        Item::new("Cancel"),
    ];
    match term::select("Choose authentication method:", &items, 0, false)? {
        Some(0) => oauth_login(ctx, p, oauth),
        Some(1) => {
            say("  Get an API key at: https://platform.claude.com/settings/keys");
            match term::read_line("  API key (sk-ant-...): ", true)? {
                Some(k) if !k.is_empty() => {
                    pending.set.push(("ANTHROPIC_API_KEY".into(), k));
                    // An OAuth token in .env would win over the key the user just typed.
                    pending.clear.push("ANTHROPIC_TOKEN".into());
                    say("  ✓ API key accepted (saved once you pick a model).");
                    Ok(true)
                }
                _ => {
                    say("  Cancelled.");
                    Ok(false)
                }
            }
        }
        _ => {
            say("No change.");
            Ok(false)
        }
    }
}

fn saved_custom_flow(
    ctx: &PoolContext,
    cp: &CustomProvider,
    refresh: bool,
) -> Result<Outcome, CliError> {
    let saved = model::saved_model(&ctx.config, cp);
    say(format!("  Provider: {}", cp.name));
    say(format!("  URL:      {}", cp.base_url));
    if let Some(m) = &saved {
        say(format!("  Current:  {m}"));
    }
    say("");
    say("Fetching available models...");
    let list = model::custom_models(ctx, cp, refresh);
    let chosen = if list.models.is_empty() {
        say("Could not fetch models from endpoint.");
        let prompt = match &saved {
            Some(s) => format!("Model name [{s}]: "),
            None => "Model name: ".to_string(),
        };
        match term::read_line(&prompt, false)? {
            Some(s) if !s.is_empty() => Some(s),
            Some(_) => saved.clone(),
            None => None,
        }
    } else {
        say(format!("Found {} model(s):", list.models.len()));
        say("");
        model_picker(
            &list.models,
            saved.as_deref(),
            &format!("Select model from {}:", cp.name),
        )?
    };
    let Some(m) = chosen else {
        return no_change();
    };
    let mut config = (*ctx.config).clone();
    model::save_saved_custom_choice(ctx, &mut config, cp, &m).map_err(model_err)?;
    say("");
    say(format!("✅ Model set to: {m}"));
    say(format!("   Provider: {} ({})", cp.name, cp.base_url));
    Ok(Outcome::Changed)
}

fn remove_custom_flow(ctx: &PoolContext) -> Result<Outcome, CliError> {
    let all: Vec<CustomProvider> = ctx
        .config
        .custom_providers()
        .into_iter()
        .filter(|c| c.provider_key.is_none())
        .collect();
    say("Remove a custom provider:");
    say("");
    let mut items: Vec<Item> = all
        .iter()
        .map(|c| Item::new(format!("{} ({})", c.name, model::short_url(&c.base_url))))
        .collect();
    items.push(Item::new("Cancel"));
    let Some(i) = term::select("Select provider to remove:", &items, 0, false)? else {
        return no_change();
    };
    if i >= all.len() {
        return no_change();
    }
    let mut config = (*ctx.config).clone();
    let reset = model::remove_custom(&mut config, &all[i].name).map_err(model_err)?;
    say(format!(
        "✅ Removed \"{}\" from custom providers.",
        all[i].name
    ));
    if reset {
        say(
            "  It was the active provider: model.provider and its base URL were cleared; run `hermes model` to pick another.",
        );
    }
    Ok(Outcome::Changed)
}

fn is_local(url: &str) -> bool {
    [
        "localhost",
        "127.0.0.1",
        "0.0.0.0",
        ":11434",
        ":8080",
        ":5000",
    ]
    .iter()
    .any(|h| url.contains(h))
}

fn custom_endpoint_flow(ctx: &PoolContext) -> Result<Outcome, CliError> {
    say("Custom OpenAI-compatible endpoint configuration:");
    say("");
    let Some(url) = term::read_line("API base URL [e.g. https://api.example.com/v1]: ", false)?
    else {
        say("Cancelled.");
        return Ok(Outcome::NoChange);
    };
    if url.is_empty() {
        say("No URL provided. Cancelled.");
        return Ok(Outcome::NoChange);
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        say(format!(
            "Invalid URL: {url} (must start with http:// or https://)"
        ));
        return Ok(Outcome::NoChange);
    }
    let mut url = url.trim_end_matches('/').to_string();
    let Some(key) = term::read_line("API key [optional]: ", true)? else {
        say("Cancelled.");
        return Ok(Outcome::NoChange);
    };
    let key = Some(key).filter(|k| !k.is_empty());
    if is_local(&url) && !url.ends_with("/v1") {
        say("");
        say("  Hint: Did you mean to add /v1 at the end?");
        say("  Most local model servers (Ollama, vLLM, llama.cpp) require it.");
        say(format!("  e.g. {url}/v1"));
        let a = term::read_line("  Add /v1? [Y/n]: ", false)?.unwrap_or_default();
        if a.is_empty() || a.to_lowercase().starts_with('y') {
            url.push_str("/v1");
            say(format!("  Updated URL: {url}"));
        }
        say("");
    }
    let (found, alt) = model::probe_endpoint(&url, key.as_deref());
    let models = match found {
        Some((base, models)) => {
            if base != url {
                say(format!(
                    "Warning: endpoint verification worked at {base}/models, not the exact URL you entered. Saving the working base URL instead."
                ));
                url = base;
            } else {
                say(format!(
                    "Verified endpoint via {url}/models ({} model(s) visible)",
                    models.len()
                ));
            }
            models
        }
        None => {
            say(format!(
                "Warning: could not verify this endpoint via {url}/models. Hermes will still save it."
            ));
            if url.ends_with("/v1") {
                say(format!(
                    "  If /v1 should not be in the base URL, try: {alt}"
                ));
            } else {
                say(format!(
                    "  If this server expects /v1 in the path, try base URL: {alt}"
                ));
            }
            vec![]
        }
    };
    let modes = [
        ("Auto-detect", None),
        ("Chat Completions", Some("chat_completions")),
        ("Responses / Codex", Some("codex_responses")),
        ("Anthropic Messages", Some("anthropic_messages")),
    ];
    let items: Vec<Item> = modes.iter().map(|(t, _)| Item::new(*t)).collect();
    let Some(mi) = term::select("Select API compatibility mode:", &items, 0, false)? else {
        return no_change();
    };
    let api_mode = modes[mi].1.map(str::to_string);
    say(format!(
        "  API mode: {}",
        api_mode.as_deref().unwrap_or("auto-detect")
    ));
    let chosen = if models.is_empty() {
        term::read_line("Model name (e.g. gpt-4, llama-3-70b): ", false)?.filter(|s| !s.is_empty())
    } else {
        model_picker(&models, None, "Select default model:")?
    };
    let mut context_length = None;
    if chosen.is_some() {
        let raw = term::read_line(
            "Context length in tokens [leave blank for auto-detect]: ",
            false,
        )?
        .unwrap_or_default();
        let t = raw.replace(',', "").to_lowercase();
        let t = t.strip_suffix('k').map_or(t.clone(), |n| format!("{n}000"));
        if !raw.is_empty() {
            match t.parse::<u64>() {
                Ok(n) if n > 0 => context_length = Some(n),
                _ => say(format!("Invalid context length: {raw} — will auto-detect.")),
            }
        }
    }
    let auto = model::auto_custom_name(&url);
    let name = term::read_line(&format!("Display name [{auto}]: "), false)?
        .filter(|s| !s.is_empty())
        .unwrap_or(auto);
    let ep = model::CustomEndpoint {
        name: name.clone(),
        base_url: url.clone(),
        api_key: key,
        model: chosen.clone(),
        api_mode,
        context_length,
    };
    let mut config: Config = (*ctx.config).clone();
    let new = model::save_custom_endpoint(ctx, &mut config, &ep).map_err(model_err)?;
    match &chosen {
        Some(m) => say(format!("Default model set to: {m} (via {url})")),
        None => say("Endpoint saved. Run `hermes model` again to set a model."),
    }
    if new {
        say(format!(
            "  💾 Saved to custom providers as \"{name}\" (edit in config.yaml)"
        ));
    }
    Ok(if chosen.is_some() || new {
        Outcome::Changed
    } else {
        Outcome::NoChange
    })
}
