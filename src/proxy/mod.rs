//! `hermes proxy`: a local OpenAI-compatible gateway over a credential pool.
//!
//! * [`adapter`]: the upstreams, as data rows behind one trait.
//! * [`creds`]: the in-memory credential snapshot and the worker that owns all store I/O.
//! * [`gate`]: path allow-list, Host/Origin gates, client key, header filtering, error bodies.
//! * [`server`]: the request handler (forwarding, rotation, streaming).
//! * [`state`]: the state file `proxy status` reads.

pub mod adapter;
pub mod creds;
pub mod gate;
pub mod server;
pub mod state;

use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use adapter::{AdapterSpec, PoolAdapter};
use creds::Credentials;

use crate::pool::{CredentialPool, PoolContext, PoolError};
use crate::secret::Secret;

/// Default listening port.
pub const DEFAULT_PORT: u16 = 8645;
/// Default seconds to wait for an upstream response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: u64 = 300;
/// Default seconds a Nous refresh may take.
pub const DEFAULT_NOUS_TIMEOUT: u64 = 15;
/// How long in-flight requests may run after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// `proxy start`, resolved.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub adapter: AdapterSpec,
    pub host: String,
    pub port: u16,
    pub allow_network: bool,
    pub client_key: Option<Secret>,
    pub allow_origins: Vec<String>,
    pub upstream_timeout: Duration,
    pub refresh_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Not logged into {display}. Run `{fix}` first.")]
    NotLoggedIn { display: String, fix: String },
    #[error(
        "refusing to listen on {host}: it is reachable from other machines. Pass --allow-network and set a client key (--client-key or HERMES_PROXY_CLIENT_KEY) to expose the proxy."
    )]
    NonLoopback { host: String },
    #[error("proxy: cannot resolve bind address {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("proxy: failed to bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("proxy: cannot create the upstream HTTP client: {0}")]
    Client(String),
    #[error("proxy: {0}")]
    Io(#[from] std::io::Error),
}

/// Resolves `host` (empty = `127.0.0.1`) to socket addresses.
pub fn resolve_bind(host: &str, port: u16) -> Result<Vec<SocketAddr>, ProxyError> {
    let h = host.trim();
    let h = if h.is_empty() { "127.0.0.1" } else { h };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (h, port)
        .to_socket_addrs()
        .map_err(|e| ProxyError::Resolve {
            host: h.to_string(),
            message: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ProxyError::Resolve {
            host: h.to_string(),
            message: "no addresses".into(),
        });
    }
    // `localhost` may resolve to both families; prefer IPv4 loopback like the reference.
    let v4: Vec<SocketAddr> = addrs.iter().copied().filter(|a| a.is_ipv4()).collect();
    Ok(if v4.is_empty() { addrs } else { vec![v4[0]] })
}

/// A proxy whose pool is loaded and whose socket is bound, ready to serve.
pub struct Bound {
    pub creds: Arc<Credentials>,
    listener: tokio::net::TcpListener,
    shared: Arc<server::Shared>,
}

impl Bound {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish (up to
    /// [`SHUTDOWN_GRACE`]), then writes pending pool state.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let worker = self.creds.spawn_worker();
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(self.shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(());
        });
        let mut serve = std::pin::pin!(serve.into_future());
        tokio::select! {
            _ = &mut serve => {}
            _ = async { let _ = rx.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {}
        }
        self.creds.flush().await;
        worker.abort();
    }
}

/// Loads the pool and checks that it can serve (no network), then binds. Fails before
/// binding when the pool is empty or the address is not allowed.
pub async fn bind(settings: &ProxySettings, ctx: PoolContext) -> Result<Bound, ProxyError> {
    let addrs = resolve_bind(&settings.host, settings.port)?;
    let loopback = addrs.iter().all(|a| a.ip().is_loopback());
    let exposed_ok = settings.allow_network && settings.client_key.is_some();
    if !loopback && !exposed_ok {
        return Err(ProxyError::NonLoopback {
            host: settings.host.clone(),
        });
    }
    let spec = settings.adapter.clone();
    let pool_key = spec.pool_key.clone();
    let ctx2 = ctx.clone();
    let pool = tokio::task::spawn_blocking(move || CredentialPool::load(&ctx2, &pool_key))
        .await
        .map_err(|e| ProxyError::Io(std::io::Error::other(e)))??;
    if !pool.has_credentials() {
        return Err(ProxyError::NotLoggedIn {
            display: spec.display_name.clone(),
            fix: spec.fix_command.clone(),
        });
    }
    let client = server::client().map_err(|e| ProxyError::Client(e.to_string()))?;
    let creds = Credentials::new(
        Arc::new(PoolAdapter(spec)),
        ctx,
        pool,
        settings.refresh_timeout,
    );
    let std_listener =
        std::net::TcpListener::bind(&addrs[..]).map_err(|source| ProxyError::Bind {
            addr: display_addr(&addrs[0]),
            source,
        })?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let shared = Arc::new(server::Shared {
        creds: creds.clone(),
        client,
        loopback_bind: loopback,
        client_key: settings
            .client_key
            .as_ref()
            .map(|k| k.expose().as_bytes().to_vec()),
        allow_origins: settings
            .allow_origins
            .iter()
            .map(|o| gate::normalize_origin(o))
            .collect(),
        upstream_timeout: settings.upstream_timeout,
    });
    Ok(Bound {
        creds,
        listener,
        shared,
    })
}

/// `host:port` with IPv6 hosts bracketed.
pub fn display_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}
