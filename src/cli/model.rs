//! `hermes model`: the provider and model picker, and its scriptable form
//! (`--provider P --model M`, `--list`).

pub mod flows;
pub mod term;

use clap::Args;
use serde_json::json;

use crate::cli::auth::add::{OAuthArgs, OAuthSettings};
use crate::cli::{CliError, context, say, ui};
use crate::model::{self, ListSource, ModelList};
use crate::pool::PoolContext;
use crate::providers::{normalize_provider, registry};

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Ignore the cached model lists (one hour) and fetch them again
    #[arg(long)]
    pub refresh: bool,
    /// Set the provider without prompting (with --model); or, with --list, list its models
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Set the default model without prompting
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Base URL for the provider (required for --provider custom)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Do not check --model against the provider's model list
    #[arg(long)]
    pub no_verify: bool,
    /// List providers (or, with --provider, that provider's models) and exit
    #[arg(long)]
    pub list: bool,
    /// With --list: print JSON ({"schema": 1, …})
    #[arg(long, requires = "list")]
    pub json: bool,
    /// The flags of `hermes auth add <provider> --type oauth`, for a login the picker starts.
    #[command(
        flatten,
        next_help_heading = "Login options (when the picker starts an OAuth login)"
    )]
    pub oauth: OAuthArgs,
}

/// `hermes model` resolved: no clap types past this point.
#[derive(Debug)]
pub enum ModelSettings {
    Interactive(flows::PickOptions),
    Set(SetSettings),
    ListProviders {
        json: bool,
    },
    ListModels {
        provider: String,
        json: bool,
        refresh: bool,
    },
}

#[derive(Debug)]
pub struct SetSettings {
    pub provider: Option<String>,
    pub model: String,
    pub base_url: Option<String>,
    pub verify: bool,
    pub refresh: bool,
}

impl ModelSettings {
    pub fn resolve(a: ModelArgs) -> Result<Self, CliError> {
        if a.list {
            if a.model.is_some() {
                return Err(CliError::usage(
                    "--list and --model cannot be used together.",
                ));
            }
            return Ok(match a.provider {
                Some(provider) => Self::ListModels {
                    provider,
                    json: a.json,
                    refresh: a.refresh,
                },
                None => Self::ListProviders { json: a.json },
            });
        }
        if let Some(model) = a.model {
            let model = model.trim().to_string();
            if model.is_empty() {
                return Err(CliError::usage("--model needs a model name."));
            }
            return Ok(Self::Set(SetSettings {
                provider: a.provider,
                model,
                base_url: a.base_url,
                verify: !a.no_verify,
                refresh: a.refresh,
            }));
        }
        if a.provider.is_some() || a.base_url.is_some() {
            return Err(
                CliError::usage("--provider and --base-url need --model (or --list).")
                    .hint("hermes model --provider deepseek --model deepseek-chat")
                    .hint("hermes model --list --provider deepseek"),
            );
        }
        if !ui::stdin_is_tty() {
            return Err(CliError::usage(
                "'hermes model' needs an interactive terminal for the picker, and standard input is not one.",
            )
            .hint("set it without prompts: hermes model --provider <provider> --model <model>")
            .hint("see the choices: hermes model --list [--provider <provider>]"));
        }
        Ok(Self::Interactive(flows::PickOptions {
            refresh: a.refresh,
            oauth: oauth_settings(a.oauth),
        }))
    }
}

/// The login flags resolved as `hermes auth add` resolves them.
fn oauth_settings(a: OAuthArgs) -> OAuthSettings {
    OAuthSettings {
        portal_url: a.portal_url,
        inference_url: a.inference_url,
        client_id: a.client_id,
        scope: a.scope,
        no_browser: a.no_browser,
        timeout: a.timeout,
        insecure: a.insecure,
        ca_bundle: a.ca_bundle,
        min_key_ttl_seconds: a.min_key_ttl_seconds,
        import_shared: if a.import_shared {
            Some(true)
        } else if a.no_import_shared {
            Some(false)
        } else {
            None
        },
    }
}

pub fn run(args: ModelArgs) -> Result<(), CliError> {
    let settings = ModelSettings::resolve(args)?;
    let ctx = context()?;
    match settings {
        ModelSettings::Interactive(opts) => {
            flows::pick(&ctx, &opts)?;
            Ok(())
        }
        ModelSettings::Set(s) => set(&ctx, s),
        ModelSettings::ListProviders { json } => list_providers(&ctx, json),
        ModelSettings::ListModels {
            provider,
            json,
            refresh,
        } => list_models(&ctx, &provider, json, refresh),
    }
}

fn source_name(s: ListSource) -> &'static str {
    match s {
        ListSource::Live => "live",
        ListSource::Cache => "cache",
        ListSource::StaleCache => "stale-cache",
        ListSource::Offline => "built-in",
        ListSource::None => "none",
    }
}

/// A provider argument resolved to what `hermes model` can use.
enum Target {
    Registry(&'static crate::providers::Provider),
    Saved(crate::store::config::CustomProvider),
    NewCustom,
}

fn resolve_target(ctx: &PoolContext, p: &str) -> Result<Target, CliError> {
    let key = normalize_provider(p, &ctx.config);
    if key == "custom" {
        return Ok(Target::NewCustom);
    }
    if let Some(cp) = ctx.config.custom_provider(&key) {
        return Ok(Target::Saved(cp));
    }
    match registry().get(&key) {
        Some(r) if model::selectable(r) => Ok(Target::Registry(r)),
        Some(r) => Err(CliError::usage(format!(
            "{} ({}) is configured by the agent runtime, not by this binary.",
            r.display_name, r.id
        ))),
        None => Err(CliError::unknown_provider(&key)),
    }
}

fn list_for(ctx: &PoolContext, t: &Target, base: Option<&str>, refresh: bool) -> ModelList {
    match t {
        Target::Registry(p) => model::provider_models(ctx, p, base, None, refresh),
        Target::Saved(cp) => model::custom_models(ctx, cp, refresh),
        Target::NewCustom => match base {
            Some(b) => {
                let cp = crate::store::config::CustomProvider {
                    name: model::auto_custom_name(b),
                    base_url: b.to_string(),
                    api_key: None,
                    provider_key: None,
                };
                model::custom_models(ctx, &cp, refresh)
            }
            None => ModelList {
                models: vec![],
                source: ListSource::None,
                error: None,
            },
        },
    }
}

fn list_models(
    ctx: &PoolContext,
    provider: &str,
    json: bool,
    refresh: bool,
) -> Result<(), CliError> {
    let t = resolve_target(ctx, provider)?;
    let id = match &t {
        Target::Registry(p) => p.id.clone(),
        Target::Saved(cp) => cp.pool_key(),
        Target::NewCustom => {
            return Err(CliError::usage(
                "`custom` has no model list of its own; name a saved custom provider (custom:<name>).",
            ));
        }
    };
    let list = list_for(ctx, &t, None, refresh);
    if json {
        let v = json!({
            "schema": 1,
            "provider": id,
            "source": source_name(list.source),
            "models": list.models.iter().map(|m| json!({"id": m})).collect::<Vec<_>>(),
        });
        say(serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for m in &list.models {
            say(m);
        }
    }
    if let Some(e) = &list.error {
        eprintln!(
            "note: could not fetch the live list ({e}); showing the {} list",
            source_name(list.source)
        );
    }
    if list.models.is_empty() {
        return Err(
            CliError::failure(format!("No models known for {id}.")).hint(format!(
                "set one anyway: hermes model --provider {id} --model <name> --no-verify"
            )),
        );
    }
    Ok(())
}

fn list_providers(ctx: &PoolContext, json: bool) -> Result<(), CliError> {
    let store = crate::store::AuthStore::load(&ctx.home)?;
    let cur = model::current(ctx);
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for r in model::picker_rows(ctx) {
        let keys: Vec<String> = match &r.kind {
            model::RowKind::Provider(k) => vec![k.clone()],
            model::RowKind::Group { members, .. } => members.clone(),
            model::RowKind::SavedCustom(cp) => vec![cp.pool_key()],
            _ => vec![],
        };
        for k in keys {
            let (name, auth) = match registry().get(&k) {
                Some(p) => (
                    p.display_name.clone(),
                    if model::is_oauth(p) {
                        "oauth"
                    } else {
                        "api_key"
                    },
                ),
                None => (crate::providers::display_name(&k, &ctx.config), "custom"),
            };
            let creds = k.starts_with("custom:") || model::cred_state(ctx, &store, &k).ready();
            rows.push(json!({
                "id": k,
                "name": name,
                "auth": auth,
                "credentials": creds,
                "active": cur.provider.as_deref() == Some(k.as_str()),
            }));
        }
    }
    if json {
        say(
            serde_json::to_string_pretty(&json!({"schema": 1, "providers": rows}))
                .unwrap_or_default(),
        );
        return Ok(());
    }
    let w = rows
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::len))
        .max()
        .unwrap_or(0);
    for r in &rows {
        let mut line = format!(
            "{:w$}  {}",
            r["id"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or("")
        );
        if r["credentials"].as_bool() == Some(true) {
            line.push_str("  ✓");
        }
        if r["active"].as_bool() == Some(true) {
            line.push_str("  ← active");
        }
        say(line);
    }
    Ok(())
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && url::Url::parse(u).is_ok_and(|x| x.host_str().is_some())
}

fn set(ctx: &PoolContext, s: SetSettings) -> Result<(), CliError> {
    let provider = match s.provider {
        Some(p) => p,
        None => {
            let cur = model::current(ctx);
            cur.provider.or(cur.detected.map(|(id, _)| id))
        }
        .ok_or_else(|| {
            CliError::usage("No provider is configured yet; pass --provider.")
                .hint("hermes model --list shows the providers")
        })?,
    };
    if let Some(u) = &s.base_url
        && !valid_url(u)
    {
        return Err(CliError::usage(format!(
            "Invalid URL: {u} (must start with http:// or https://)"
        )));
    }
    let t = resolve_target(ctx, &provider)?;
    if matches!(t, Target::NewCustom) && s.base_url.is_none() {
        return Err(CliError::usage("--provider custom needs --base-url.").hint(
            "hermes model --provider custom --base-url http://127.0.0.1:8080/v1 --model <name>",
        ));
    }
    if s.verify {
        let list = list_for(ctx, &t, s.base_url.as_deref(), s.refresh);
        let id = match &t {
            Target::Registry(p) => p.id.clone(),
            Target::Saved(cp) => cp.pool_key(),
            Target::NewCustom => "custom".into(),
        };
        let known = list.models.iter().any(|m| m == &s.model);
        if !known && list.source.authoritative() {
            return Err(CliError::failure(format!(
                "Unknown model '{}' for {id} (the provider lists {} model(s)).",
                s.model,
                list.models.len()
            ))
            .hint(format!("see them: hermes model --list --provider {id}"))
            .hint("set it anyway with --no-verify"));
        }
        if matches!(t, Target::NewCustom) && list.source == ListSource::None {
            return Err(CliError::failure(format!(
                "Could not verify the endpoint via {}/models: {}",
                s.base_url.as_deref().unwrap_or("").trim_end_matches('/'),
                list.error.as_deref().unwrap_or("no answer")
            ))
            .hint("save it anyway with --no-verify"));
        }
        if !known && !list.models.is_empty() {
            eprintln!(
                "note: '{}' is not in the {} list for {id}; saving it anyway",
                s.model,
                source_name(list.source)
            );
        }
    }
    let mut config = (*ctx.config).clone();
    match t {
        Target::Registry(p) => {
            let base = match &s.base_url {
                Some(u) => {
                    if let Some(var) = &p.base_url_env {
                        model::set_env_var(ctx, var, u.trim_end_matches('/'))?;
                    }
                    u.clone()
                }
                None => model::effective_base_url(ctx, p),
            };
            let notes = model::save_provider_choice(ctx, &mut config, p, &s.model, &base)
                .map_err(flows::model_err)?;
            flows::print_notes(&notes);
            say(format!(
                "Default model set to: {} (via {})",
                s.model, p.display_name
            ));
            if !model::cred_state(ctx, &crate::store::AuthStore::load(&ctx.home)?, &p.id).ready() {
                let how = if model::is_oauth(p) {
                    format!("hermes auth add {}", p.id)
                } else {
                    format!(
                        "hermes auth add {} --type api-key (or set {})",
                        p.id,
                        p.api_key_env_vars.first().map_or("its key", String::as_str)
                    )
                };
                eprintln!(
                    "note: {} has no credentials yet; add them with: {how}",
                    p.display_name
                );
            }
        }
        Target::Saved(cp) => {
            model::save_saved_custom_choice(ctx, &mut config, &cp, &s.model)
                .map_err(flows::model_err)?;
            say(format!(
                "Default model set to: {} (via {})",
                s.model, cp.name
            ));
        }
        Target::NewCustom => {
            let url = s.base_url.unwrap_or_default();
            let ep = model::CustomEndpoint {
                name: model::auto_custom_name(&url),
                base_url: url.clone(),
                model: Some(s.model.clone()),
                ..Default::default()
            };
            let new =
                model::save_custom_endpoint(ctx, &mut config, &ep).map_err(flows::model_err)?;
            say(format!(
                "Default model set to: {} (via {})",
                s.model,
                url.trim_end_matches('/')
            ));
            if new {
                say(format!(
                    "  Saved to custom providers as \"{}\" (edit in config.yaml)",
                    ep.name
                ));
            }
        }
    }
    Ok(())
}
