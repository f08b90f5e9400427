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
    #[command(flatten)]
    pub oauth: OAuthArgs,
}

/// Flags of the OAuth logins (`--type oauth`).
#[derive(Debug, Args, Default)]
pub struct OAuthArgs {
    /// Nous: portal base URL (default: HERMES_PORTAL_BASE_URL, NOUS_PORTAL_BASE_URL, or the Nous portal)
    #[arg(long, value_name = "URL")]
    pub portal_url: Option<String>,
    /// Nous: inference base URL (default: NOUS_INFERENCE_BASE_URL, or the Nous inference API)
    #[arg(long, value_name = "URL")]
    pub inference_url: Option<String>,
    /// Nous: OAuth client id (default: hermes-cli)
    #[arg(long)]
    pub client_id: Option<String>,
    /// Nous: OAuth scope (default: inference:invoke)
    #[arg(long)]
    pub scope: Option<String>,
    /// Do not open a browser; print the URL and code only
    #[arg(long)]
    pub no_browser: bool,
    /// HTTP timeout in seconds for each login request
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Nous: do not verify TLS certificates
    #[arg(long)]
    pub insecure: bool,
    /// Nous: PEM file of CA certificates to trust
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Nous: minimum lifetime in seconds asked of a minted agent key (agent-key portals)
    #[arg(long, value_name = "SECS")]
    pub min_key_ttl_seconds: Option<u64>,
    /// Nous: import the login found in the shared store (other profiles) without asking
    #[arg(long, overrides_with = "no_import_shared")]
    pub import_shared: bool,
    /// Nous: never import the shared-store login; always start a device login
    #[arg(long)]
    pub no_import_shared: bool,
}

/// `auth add` resolved: no clap types past this point.
#[derive(Debug)]
pub struct AddSettings {
    pub pool_key: String,
    pub kind: CredentialType,
    pub label: Option<String>,
    pub api_key: Option<Secret>,
    pub oauth: OAuthSettings,
}

/// The OAuth flags resolved (shared by every login flow; each uses what applies to it).
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    pub portal_url: Option<String>,
    pub inference_url: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub no_browser: bool,
    pub timeout: Option<f64>,
    pub insecure: bool,
    pub ca_bundle: Option<std::path::PathBuf>,
    pub min_key_ttl_seconds: Option<u64>,
    /// `Some(true)`: import the shared Nous login; `Some(false)`: never; `None`: ask.
    pub import_shared: Option<bool>,
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
            oauth: OAuthSettings {
                portal_url: args.oauth.portal_url,
                inference_url: args.oauth.inference_url,
                client_id: args.oauth.client_id,
                scope: args.oauth.scope,
                no_browser: args.oauth.no_browser,
                timeout: args.oauth.timeout,
                insecure: args.oauth.insecure,
                ca_bundle: args.oauth.ca_bundle,
                min_key_ttl_seconds: args.oauth.min_key_ttl_seconds,
                import_shared: if args.oauth.import_shared {
                    Some(true)
                } else if args.oauth.no_import_shared {
                    Some(false)
                } else {
                    None
                },
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
            super::add_oauth::cancel_on_ctrl_c();
            execute_oauth(ctx, &s)
        }
    }
}

fn execute_oauth(ctx: &PoolContext, s: &AddSettings) -> Result<(), CliError> {
    match s.pool_key.as_str() {
        "nous" | "openai-codex" | "xai-oauth" | "minimax-oauth" | "copilot" => {
            super::add_oauth::run(ctx, s)
        }
        _ => super::oauth_pkce::run(ctx, s).unwrap_or_else(|| oauth_unsupported(s)),
    }
}

fn oauth_unsupported(s: &AddSettings) -> Result<(), CliError> {
    Err(CliError::failure(format!(
        "`hermes auth add {}` is not implemented for auth type oauth yet.",
        s.pool_key
    ))
    .hint(format!(
        "add an API key instead: hermes auth add {} --type api-key",
        s.pool_key
    )))
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
