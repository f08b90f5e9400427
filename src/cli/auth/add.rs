//! `hermes auth add <provider> [--type] [--label] [--api-key]`.

use clap::{Args, ValueEnum};

use crate::cli::{CliError, context, say, ui};
use crate::pool::{CredentialPool, PoolContext, manage};
use crate::providers::{normalize_provider, registry};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialType {
    Oauth,
    #[value(name = "api-key", alias = "api_key")]
    ApiKey,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Provider id (for example: anthropic, openai-codex, openrouter, custom:<name>)
    pub provider: String,
    /// Credential type to add (default: oauth for providers with a login, else api-key)
    #[arg(long = "type", value_enum)]
    pub kind: Option<CredentialType>,
    /// Optional display label
    #[arg(long)]
    pub label: Option<String>,
    /// API key value (otherwise prompted securely, or read from standard input when piped)
    #[arg(long)]
    pub api_key: Option<String>,
    /// Do not auto-open a browser for OAuth login
    #[arg(long)]
    pub no_browser: bool,
    /// OAuth/network timeout in seconds
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// `auth add` resolved: no clap types past this point.
#[derive(Debug)]
pub struct AddSettings {
    pub pool_key: String,
    pub kind: CredentialType,
    pub label: Option<String>,
    pub api_key: Option<Secret>,
    pub browser: super::oauth_pkce::BrowserFlags,
}

impl AddSettings {
    pub fn resolve(args: AddArgs, ctx: &PoolContext) -> Result<Self, CliError> {
        let pool_key = normalize_provider(&args.provider, &ctx.config);
        if !manage::is_addable(&pool_key) {
            return Err(CliError::unknown_provider(&pool_key));
        }
        let kind = args.kind.unwrap_or_else(|| {
            let oauth_default = !pool_key.starts_with("custom:")
                && registry()
                    .get(&pool_key)
                    .is_some_and(|p| p.default_add_oauth);
            if args.api_key.is_some() || !oauth_default {
                CredentialType::ApiKey
            } else {
                CredentialType::Oauth
            }
        });
        Ok(Self {
            pool_key,
            kind,
            label: args
                .label
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty()),
            api_key: args.api_key.map(Secret::new),
            browser: super::oauth_pkce::BrowserFlags {
                no_browser: args.no_browser,
                timeout: args.timeout,
            },
        })
    }
}

pub fn run(args: AddArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let settings = AddSettings::resolve(args, &ctx)?;
    execute(&ctx, settings)
}

pub fn execute(ctx: &PoolContext, s: AddSettings) -> Result<(), CliError> {
    match s.kind {
        CredentialType::ApiKey => add_api_key(ctx, s),
        CredentialType::Oauth => {
            if let Some(r) = super::oauth_pkce::run(ctx, &s) {
                return r;
            }
            Err(CliError::failure(format!(
                "`hermes auth add {}` is not implemented for auth type oauth yet.",
                s.pool_key
            ))
            .hint(format!(
                "add an API key instead: hermes auth add {} --type api-key",
                s.pool_key
            )))
        }
    }
}

fn add_api_key(ctx: &PoolContext, s: AddSettings) -> Result<(), CliError> {
    let mut pool = CredentialPool::load(ctx, &s.pool_key)?;
    let default_label = pool.next_free_label("api-key");
    // `None` = the default label, picked again under the lock when the entry is written.
    let label = match s.label {
        Some(l) => Some(l),
        None if ui::stdin_is_tty() => {
            ui::prompt_line(&format!("Label (optional, default: {default_label}): "))
                .filter(|l| !l.is_empty())
        }
        None => None,
    };
    let key = match s.api_key {
        Some(k) if !k.is_empty() => k,
        Some(_) => return Err(CliError::usage("No API key provided.")),
        None => match ui::read_secret("Paste your API key: ")? {
            Some(k) => Secret::new(k),
            None => {
                return Err(CliError::usage("No API key provided.").hint(format!(
                    "pass --api-key, or pipe it: printf %s \"$KEY\" | hermes auth add {} --type api-key",
                    s.pool_key
                )));
            }
        },
    };
    manage::unsuppress_for_add(ctx, &s.pool_key)?;
    let (n, label) = manage::add_api_key(&mut pool, label.as_deref(), &key)?;
    say(format!("Added {} credential #{n}: \"{label}\"", s.pool_key));
    Ok(())
}
