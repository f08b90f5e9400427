//! `hermes proxy start|status|providers`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::{CliError, context, say};
use crate::envvars;
use crate::pool::{CredentialPool, PoolContext};
use crate::proxy::adapter::{self, Adapter, AdapterSpec, PoolAdapter};
use crate::proxy::{self, ProxyError, ProxySettings, state};
use crate::secret::Secret;
use crate::store::AuthStore;

const BARE_HELP: &str = "hermes proxy — local OpenAI-compatible proxy that attaches your
pooled provider credentials to outbound requests.

Subcommands:
  hermes proxy start [--provider <name>] [--host 127.0.0.1] [--port 8645]
      Run the proxy in the foreground.
  hermes proxy status [--json]
      Show running proxies and which upstreams are ready.
  hermes proxy providers
      List available upstream providers.
";

#[derive(Debug, Args)]
#[command(subcommand_required = false)]
pub struct ProxyArgs {
    #[command(subcommand)]
    pub command: Option<ProxyCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Run the proxy in the foreground
    Start(StartArgs),
    /// Show running proxies and which upstreams are ready
    Status(StatusArgs),
    /// List available proxy upstream providers
    Providers,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Upstream provider (default: nous). See `hermes proxy providers`.
    #[arg(long)]
    pub provider: Option<String>,
    /// Bind address (default: 127.0.0.1). Other machines can reach a non-loopback address only
    /// with --allow-network and a client key.
    #[arg(long)]
    pub host: Option<String>,
    /// Bind port (default: 8645; 0 picks a free port and prints it)
    #[arg(long, default_value_t = proxy::DEFAULT_PORT)]
    pub port: u16,
    /// Allow a non-loopback --host (requires a client key)
    #[arg(long)]
    pub allow_network: bool,
    /// Shared secret every client must send (`Authorization: Bearer <key>` or `x-api-key`)
    #[arg(long, env = envvars::HERMES_PROXY_CLIENT_KEY, hide_env_values = true)]
    pub client_key: Option<String>,
    /// Also accept browser requests from this origin (repeatable; `*` = any)
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Seconds to wait for an upstream response head before answering 504
    #[arg(long, value_name = "SECONDS", env = envvars::HERMES_PROXY_UPSTREAM_TIMEOUT, hide_env_values = true, default_value_t = proxy::DEFAULT_UPSTREAM_TIMEOUT)]
    pub upstream_timeout: u64,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ProxyArgs) -> Result<(), CliError> {
    match args.command {
        None => {
            eprintln!("{BARE_HELP}");
            Ok(())
        }
        Some(ProxyCommand::Start(a)) => start(a),
        Some(ProxyCommand::Status(a)) => status(a),
        Some(ProxyCommand::Providers) => providers(),
    }
}

fn store_snapshot(ctx: &PoolContext) -> Option<AuthStore> {
    AuthStore::load(&ctx.home).ok()
}

fn providers() -> Result<(), CliError> {
    let ctx = context()?;
    let store = store_snapshot(&ctx);
    for a in adapter::all(&ctx, store.as_ref()) {
        say(format!("{}  — {}", a.name, a.display_name));
    }
    Ok(())
}

fn resolve_start(a: StartArgs, ctx: &PoolContext) -> Result<ProxySettings, CliError> {
    let name = a.provider.unwrap_or_else(|| "nous".into());
    let store = store_snapshot(ctx);
    let spec = adapter::find(ctx, store.as_ref(), &name).ok_or_else(|| {
        CliError::usage(format!("Unknown proxy upstream provider: {:?}.", name))
            .hint("run `hermes proxy providers` to list them")
    })?;
    if a.upstream_timeout == 0 {
        return Err(CliError::usage(
            "--upstream-timeout must be at least 1 second.",
        ));
    }
    let refresh_timeout = ctx
        .env
        .lookup(envvars::HERMES_NOUS_TIMEOUT_SECONDS)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0 && v.is_finite())
        .unwrap_or(proxy::DEFAULT_NOUS_TIMEOUT as f64);
    Ok(ProxySettings {
        adapter: spec,
        host: a
            .host
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "127.0.0.1".into()),
        port: a.port,
        allow_network: a.allow_network,
        client_key: a
            .client_key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(Secret::new),
        allow_origins: a.allow_origin,
        upstream_timeout: Duration::from_secs(a.upstream_timeout),
        refresh_timeout: Duration::from_secs_f64(refresh_timeout),
    })
}

fn start(a: StartArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let settings = resolve_start(a, &ctx)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("proxy: cannot start the runtime: {e}")))?;
    rt.block_on(serve(settings, ctx))
}

fn proxy_error(e: ProxyError) -> CliError {
    match e {
        ProxyError::NotLoggedIn { .. } => CliError::usage(e.to_string()),
        ProxyError::NonLoopback { .. } => CliError::usage(e.to_string())
            .hint("keep the default --host 127.0.0.1 to serve this machine only"),
        ProxyError::Pool(p) => p.into(),
        other => CliError::failure(other.to_string()),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn serve(settings: ProxySettings, ctx: PoolContext) -> Result<(), CliError> {
    let home = ctx.home.clone();
    let bound = proxy::bind(&settings, ctx).await.map_err(proxy_error)?;
    let addr = bound
        .local_addr()
        .map_err(|e| CliError::failure(e.to_string()))?;
    let url = format!("http://{}/v1", proxy::display_addr(&addr));
    let spec = &settings.adapter;
    let n = bound.creds.snapshot().creds.len();
    eprintln!("Starting Hermes proxy for {}", spec.display_name);
    eprintln!("  Listening on:  {url}");
    eprintln!(
        "  Forwarding to: the {} credential pool ({n} credential{})",
        spec.pool_key,
        if n == 1 { "" } else { "s" }
    );
    if settings.client_key.is_some() {
        eprintln!("  Clients must send the client key as a bearer token or x-api-key.");
    } else {
        eprintln!(
            "  Use any bearer token in the client — the proxy attaches your real credential."
        );
    }
    eprintln!();
    eprintln!("Press Ctrl+C to stop.");

    let pid = std::process::id();
    let base = state::ProxyState {
        pid,
        address: url,
        provider: spec.name.clone(),
        upstream: spec.display_name.clone(),
        started_at: crate::timefmt::now_epoch(),
        requests_served: 0,
        credential_label: None,
    };
    let creds = bound.creds.clone();
    let writer_home = home.clone();
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if creds.status_dirty.swap(false, Ordering::Relaxed) {
                let mut s = base.clone();
                s.requests_served = creds.served.load(Ordering::Relaxed);
                s.credential_label = creds.current_label().map(|l| l.to_string());
                let h = writer_home.clone();
                let _ = tokio::task::spawn_blocking(move || state::write(&h, &s)).await;
            }
        }
    });
    bound.run(shutdown_signal()).await;
    writer.abort();
    let _ = writer.await;
    state::remove(&home, pid);
    eprintln!("proxy: stopped");
    Ok(())
}

fn uptime(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn status(a: StatusArgs) -> Result<(), CliError> {
    let ctx = context()?;
    let running = state::running(&ctx.home);
    let store = store_snapshot(&ctx).unwrap_or_else(|| AuthStore::empty(&ctx.home));
    let now = crate::timefmt::now_epoch();
    let mut rows: Vec<(AdapterSpec, String, bool)> = Vec::new();
    for spec in adapter::all(&ctx, Some(&store)) {
        let pool = CredentialPool::load_from(&ctx, &store, &spec.pool_key).ok();
        let entries = pool
            .as_ref()
            .map(|p| p.entries().to_vec())
            .unwrap_or_default();
        let always = spec.name == "nous" || spec.name == "xai";
        if entries.is_empty() && !always {
            continue;
        }
        let ad = PoolAdapter(spec.clone());
        let text = proxy::creds::readiness(&ad as &dyn Adapter, &ctx, &entries);
        let ready = text.starts_with("ready");
        rows.push((spec, text, ready));
    }
    if a.json {
        let v = serde_json::json!({
            "schema": 1,
            "running": running.iter().map(|s| serde_json::json!({
                "pid": s.pid,
                "address": s.address,
                "provider": s.provider,
                "upstream": s.upstream,
                "started_at": crate::timefmt::iso_utc_z(s.started_at),
                "uptime_seconds": (now - s.started_at).max(0.0).floor() as u64,
                "requests_served": s.requests_served,
                "credential_label": s.credential_label,
            })).collect::<Vec<_>>(),
            "adapters": rows.iter().map(|(s, t, r)| serde_json::json!({
                "name": s.name,
                "display_name": s.display_name,
                "pool": s.pool_key,
                "ready": r,
                "status": t,
            })).collect::<Vec<_>>(),
        });
        say(serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    if running.is_empty() {
        say("Hermes proxy: not running");
    } else {
        say("Hermes proxy: running");
        for s in &running {
            say(format!(
                "  {} → {} ({}) — pid {}, up {}, {} request{} served, credential: {}",
                s.address,
                s.provider,
                s.upstream,
                s.pid,
                uptime(now - s.started_at),
                s.requests_served,
                if s.requests_served == 1 { "" } else { "s" },
                s.credential_label.as_deref().unwrap_or("(none used yet)"),
            ));
        }
    }
    say("");
    say("Hermes proxy upstream adapters");
    say("");
    let width = rows
        .iter()
        .map(|r| r.0.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    for (s, t, _) in &rows {
        say(format!("  [{:<width$}] {} — {}", s.name, s.display_name, t));
    }
    say("");
    say("Start the proxy with: hermes proxy start [--provider <name>]");
    Ok(())
}
