//! Connecting to an OAuth-protected MCP server: the probe (MCP `initialize` + list tools over
//! streamable HTTP, via the official `rmcp` SDK), and on a 401/403 challenge the authorization
//! code flow (rmcp's discovery, registration, PKCE and token exchange) with our loopback
//! listener, paste fallback and `mcp-tokens/` files.

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::ClientInitializeError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationRequest, AuthorizationSession, OAuthClientConfig,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClientTransportConfig,
    StreamableHttpError,
};
use tokio::sync::mpsc::UnboundedReceiver;

use super::McpError;
use super::config::McpServer;
use super::tokens::{ClientInfo, FileCredentialStore, TokenFiles};
use crate::home::Home;
use crate::providers::oauth::http::chain as error_chain;
use crate::providers::oauth::loopback::{
    self, Loopback, LoopbackConfig, Outcome, constant_time_eq,
};

/// Default wait for the browser callback, seconds.
pub const CALLBACK_TIMEOUT_SECS: f64 = 300.0;
/// Floor of the connect timeout while a human completes the browser sign-in.
pub const LOGIN_CONNECT_TIMEOUT_SECS: f64 = 315.0;
const CLIENT_NAME: &str = "Hermes Agent";
/// Authorization rounds (401 → login → retry, then a possible step-up) before giving up.
const MAX_ROUNDS: usize = 3;

/// How a connection may interact with the user.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A browser flow may be started (a terminal, or `--callback-only`).
    pub interactive: bool,
    /// Try to open the browser (`--no-browser` turns it off).
    pub open_browser: bool,
    /// Seconds for connecting and the MCP handshake.
    pub connect_timeout: f64,
}

/// What a successful probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    pub tools: Vec<String>,
}

enum ProbeError {
    /// 401 (`step_up == false`) or 403 `insufficient_scope` with its `WWW-Authenticate` value.
    Challenge {
        header: String,
        step_up: bool,
    },
    Other(String),
}

/// A reqwest client with the ring provider installed (rustls-no-provider needs one).
fn http_client(timeout: Duration) -> Result<reqwest::Client, McpError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .build()
        .map_err(|e| McpError::Probe(error_chain(&e)))
}

/// `cannot reach <url>: <innermost cause>` for a request that got no HTTP answer.
fn request_failed(e: &reqwest::Error) -> String {
    let mut root: &(dyn std::error::Error + 'static) = e;
    while let Some(inner) = root.source() {
        root = inner;
    }
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else {
        root.to_string()
    };
    match e.url() {
        Some(u) => format!("cannot reach {u}: {what}"),
        None => format!("request failed: {what}"),
    }
}

/// A 401/403 challenge anywhere in the error's source chain, else the error's text.
fn classify(e: &(dyn std::error::Error + 'static)) -> ProbeError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(a) = err.downcast_ref::<AuthRequiredError>() {
            return ProbeError::Challenge {
                header: a.www_authenticate_header.clone(),
                step_up: false,
            };
        }
        if let Some(s) = err.downcast_ref::<InsufficientScopeError>() {
            return ProbeError::Challenge {
                header: s.www_authenticate_header.clone(),
                step_up: true,
            };
        }
        if let Some(h) = err.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            match h {
                StreamableHttpError::AuthRequired(a) => {
                    return ProbeError::Challenge {
                        header: a.www_authenticate_header.clone(),
                        step_up: false,
                    };
                }
                StreamableHttpError::InsufficientScope(s) => {
                    return ProbeError::Challenge {
                        header: s.www_authenticate_header.clone(),
                        step_up: true,
                    };
                }
                // The HTTP request itself failed (refused, DNS, TLS…): say so in one line
                // instead of rmcp's nested transport wrappers.
                StreamableHttpError::Client(re) => return ProbeError::Other(request_failed(re)),
                _ => {}
            }
        }
        if let Some(ClientInitializeError::TransportError { error, .. }) =
            err.downcast_ref::<ClientInitializeError>()
        {
            cur = Some(error.error.as_ref());
            continue;
        }
        if let Some(d) = err.downcast_ref::<rmcp::transport::DynamicTransportError>() {
            cur = Some(d.error.as_ref());
            continue;
        }
        cur = err.source();
    }
    ProbeError::Other(error_chain(e))
}

/// MCP `initialize` + `tools/list`, with `token` as bearer when given.
async fn probe(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<ProbeReport, ProbeError> {
    let mut cfg = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        cfg = cfg.auth_header(t.to_string());
    }
    let transport = StreamableHttpClientTransport::with_client(http.clone(), cfg);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("hermes", env!("CARGO_PKG_VERSION")),
    );
    let work = async {
        let running = match info.serve(transport).await {
            Ok(r) => r,
            Err(e) => return Err(classify(&e)),
        };
        let tools = running.list_all_tools().await;
        let _ = running.cancel().await;
        match tools {
            Ok(t) => Ok(ProbeReport {
                tools: t.into_iter().map(|t| t.name.to_string()).collect(),
            }),
            Err(e) => match classify(&e) {
                ProbeError::Other(m) => {
                    Err(ProbeError::Other(format!("listing tools failed: {m}")))
                }
                challenge => Err(challenge),
            },
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Other(format!(
            "timed out after {}s connecting to {url}",
            timeout.as_secs()
        ))),
    }
}

fn is_invalid_client(msg: &str) -> bool {
    msg.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == "invalid_client")
}

/// A manager for `url` that persists through `files`.
async fn manager(url: &str, files: &TokenFiles) -> Result<AuthorizationManager, McpError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut m = AuthorizationManager::new(url)
        .await
        .map_err(McpError::Auth)?;
    m.set_credential_store(FileCredentialStore::new(files.clone()));
    Ok(m)
}

/// The stored access token, refreshed first when it has expired. `Ok(None)` when there is
/// none or it cannot be refreshed any more (the dead token file is deleted; a client the token
/// endpoint rejects as `invalid_client` is backed up and forgotten so the next flow registers
/// again).
pub async fn stored_access_token(
    server: &McpServer,
    url: &str,
    files: &TokenFiles,
) -> Result<Option<String>, McpError> {
    if !files.has_tokens() {
        return Ok(None);
    }
    let (client, preregistered) = match &server.oauth.client_id {
        Some(id) => (
            ClientInfo {
                client_id: id.clone(),
                client_secret: server.oauth.client_secret.clone(),
                redirect_uris: vec![],
                scope: None,
            },
            true,
        ),
        None => match files.read_client() {
            Some(c) => (c, false),
            None => {
                // A token without its client cannot be refreshed; use it as long as it lasts.
                return Ok(files.read_token_response().and_then(|t| {
                    use oauth2::TokenResponse;
                    let live = t.expires_in().is_none_or(|d| d.as_secs() > 0);
                    live.then(|| t.access_token().secret().clone())
                }));
            }
        },
    };
    let mut m = manager(url, files).await?;
    let meta = match files.read_meta() {
        Some(meta) => meta,
        None => {
            let r = m.resolve_metadata().await.map_err(McpError::Auth)?;
            files.write_meta(&r.metadata)?;
            r.metadata
        }
    };
    m.set_metadata(meta);
    let redirect = client
        .redirect_uris
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1/callback".to_string());
    let mut cfg = OAuthClientConfig::new(client.client_id.clone(), redirect);
    if let Some(s) = &client.client_secret {
        cfg = cfg.with_client_secret(s.clone());
    }
    m.configure_client(cfg).map_err(McpError::Auth)?;
    match m.get_access_token().await {
        Ok(t) => Ok(Some(t)),
        Err(AuthError::AuthorizationRequired | AuthError::TokenRefreshRejected(_)) => {
            let _ = std::fs::remove_file(files.tokens_path());
            Ok(None)
        }
        Err(AuthError::TokenRefreshFailed(msg)) if is_invalid_client(&msg) => {
            let _ = std::fs::remove_file(files.tokens_path());
            if !preregistered {
                files.forget_rejected_client();
            }
            Ok(None)
        }
        Err(e) => Err(McpError::Refresh(e.to_string())),
    }
}

/// Connects to `server`, running the browser authorization when the server asks for it.
pub async fn connect(
    home: &Home,
    server: &McpServer,
    opts: &ConnectOptions,
    mut paste: Option<&mut UnboundedReceiver<String>>,
) -> Result<ProbeReport, McpError> {
    let url = server
        .url
        .clone()
        .ok_or_else(|| McpError::NoUrl(server.name.clone()))?;
    let files = TokenFiles::new(home, &server.name);
    let timeout = Duration::from_secs_f64(opts.connect_timeout.max(1.0));
    let http = http_client(timeout)?;
    if !opts.interactive && !files.has_tokens() {
        return Err(McpError::NonInteractiveNoTokens(server.name.clone()));
    }
    for _ in 0..MAX_ROUNDS {
        let token = stored_access_token(server, &url, &files).await?;
        match probe(&http, &url, token.as_deref(), timeout).await {
            Ok(report) => return Ok(report),
            Err(ProbeError::Other(msg)) => return Err(McpError::Probe(msg)),
            Err(ProbeError::Challenge { header, step_up }) => {
                if !opts.interactive {
                    return Err(McpError::NonInteractiveBrowser(server.name.clone()));
                }
                if step_up {
                    eprintln!(
                        "  The server needs more permissions (insufficient_scope) — authorizing again."
                    );
                }
                authorize(server, &url, &files, &header, opts, paste.as_deref_mut()).await?;
            }
        }
    }
    Err(McpError::Probe(
        "the server still refuses the new token after authorizing".into(),
    ))
}

fn state_from_url(auth_url: &str) -> Option<String> {
    url::Url::parse(auth_url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
}

fn can_open_browser() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("SSH_CLIENT") || set("SSH_TTY") {
        return false;
    }
    cfg!(any(target_os = "macos", target_os = "windows"))
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
}

/// The authorization code flow for one challenge; tokens land in `<stem>.json`.
async fn authorize(
    server: &McpServer,
    url: &str,
    files: &TokenFiles,
    challenge: &str,
    opts: &ConnectOptions,
    paste: Option<&mut UnboundedReceiver<String>>,
) -> Result<(), McpError> {
    let o = &server.oauth;
    let mut m = manager(url, files).await?;
    let resolution = m
        .resolve_metadata_from_challenge(Some(challenge))
        .await
        .map_err(McpError::Auth)?;
    files.write_meta(&resolution.metadata)?;
    let issuer = resolution.metadata.issuer.clone();
    m.set_metadata(resolution.metadata);

    // The client we will use: config's pre-registered one, a stored registration, or a new one.
    let cached = if o.client_id.is_none() {
        files.read_client()
    } else {
        None
    };
    let cached_loopback_port = cached.as_ref().and_then(|c| {
        c.redirect_uris.iter().find_map(|r| {
            let u = url::Url::parse(r).ok()?;
            matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
                .then(|| u.port())
                .flatten()
        })
    });
    let port = o.redirect_port.or(cached_loopback_port).unwrap_or(0);
    let loopback = Loopback::bind(LoopbackConfig::local(
        port,
        "",
        "Authorization complete",
        "Authorization complete. You can close this tab and return to Hermes.",
    ))
    .map_err(|detail| McpError::PortBusy { port, detail })?;
    let cached_https = cached.as_ref().and_then(|c| {
        c.redirect_uris
            .iter()
            .find(|r| r.starts_with("https://"))
            .cloned()
    });
    let redirect = o.redirect_uri.clone().or(cached_https).unwrap_or_else(|| {
        format!(
            "http://{}:{}/callback",
            o.redirect_host.as_deref().unwrap_or("127.0.0.1"),
            loopback.port()
        )
    });

    let defaults: Vec<String> = o
        .scope
        .as_deref()
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let default_refs: Vec<&str> = defaults.iter().map(String::as_str).collect();
    let scopes = m.select_initial_scopes(&default_refs).await;
    let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let scope_text = (!scopes.is_empty()).then(|| scopes.join(" "));
    let client_name = o.client_name.clone().unwrap_or_else(|| CLIENT_NAME.into());

    let (client, dynamic) = match (&o.client_id, cached) {
        (Some(id), _) => {
            let c = ClientInfo {
                client_id: id.clone(),
                client_secret: o.client_secret.clone(),
                redirect_uris: vec![redirect.clone()],
                scope: scope_text.clone(),
            };
            files.write_client(&c, &client_name, scope_text.as_deref())?;
            (c, false)
        }
        // A stored registration is reused when it fits this redirect and these scopes (a
        // step-up to wider scopes registers again: servers may pin a client to its scope).
        (None, Some(c))
            if c.redirect_uris.contains(&redirect)
                && c.scope.as_deref().is_none_or(|registered| {
                    scopes
                        .iter()
                        .all(|s| registered.split_whitespace().any(|r| r == s))
                }) =>
        {
            (c, true)
        }
        (None, _) => {
            let registered = m
                .register_client(&client_name, &redirect, &scope_refs)
                .await
                .map_err(McpError::Auth)?;
            let c = ClientInfo {
                client_id: registered.client_id,
                client_secret: registered.client_secret,
                redirect_uris: vec![redirect.clone()],
                scope: scope_text.clone(),
            };
            files.write_client(&c, &client_name, scope_text.as_deref())?;
            (c, true)
        }
    };

    let mut request = AuthorizationRequest::new(redirect.clone())
        .with_scopes(scopes.clone())
        .with_client_name(client_name)
        .with_preregistered_client(client.client_id.clone());
    if let Some(s) = &client.client_secret {
        request = request.with_client_secret(s.clone());
    }
    let session = AuthorizationSession::new(m, request)
        .await
        .map_err(|(_, e)| McpError::Auth(e))?;
    let auth_url = session.get_authorization_url().to_string();
    let expected_state = state_from_url(&auth_url).unwrap_or_default();

    eprintln!(
        "\n  MCP OAuth: authorization required.\n  Open this URL in your browser:\n\n    {auth_url}\n"
    );
    let on_ssh = ["SSH_CLIENT", "SSH_TTY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if on_ssh && o.redirect_uri.is_none() {
        let p = loopback.port();
        eprintln!(
            "  Remote session detected. After you authorize, the provider redirects to\n    http://127.0.0.1:{p}/callback\n  which only the listener on THIS machine can receive. Paste the URL your browser\n  ends on at the prompt below, or forward the port first in a separate terminal:\n    ssh -N -L {p}:127.0.0.1:{p} <user>@<this-host>\n"
        );
    }
    if !opts.open_browser {
        eprintln!("  (Open the URL manually.)");
    } else if can_open_browser() {
        let u = auth_url.clone();
        let opened = tokio::task::spawn_blocking(move || webbrowser::open(&u).is_ok())
            .await
            .unwrap_or(false);
        if opened {
            eprintln!("  (Browser opened automatically.)");
        } else {
            eprintln!("  (Could not open browser — please open the URL manually.)");
        }
    } else {
        eprintln!("  (Headless environment detected — open the URL manually.)");
    }
    if paste.is_some() {
        eprintln!(
            "\n  Or paste the redirect URL here (or the `?code=...&state=...` portion, or the code) and press Enter. Type `skip` + Enter to cancel:"
        );
    }

    let timeout = Duration::from_secs_f64(o.timeout.unwrap_or(CALLBACK_TIMEOUT_SECS));
    let outcome = loopback::wait_redirect(loopback, paste, timeout).await;
    let (params, pasted) = match outcome {
        Outcome::TimedOut => return Err(McpError::CallbackTimeout),
        Outcome::Skipped => {
            eprintln!(
                "  OAuth skipped. Run `hermes mcp login {}` later to authenticate.",
                server.name
            );
            return Err(McpError::UserSkipped);
        }
        Outcome::Redirect(p) => (p, false),
        Outcome::Pasted(p) => {
            eprintln!("  Got authorization code from paste — completing flow.");
            (p, true)
        }
    };
    if let Some(e) = params.error {
        let detail = match params.error_description {
            Some(d) => format!("{e}: {d}"),
            None => e,
        };
        return Err(McpError::Denied(detail));
    }
    let code = params.code.unwrap_or_default();
    // A pasted bare code carries no state or issuer: it is bound to this flow by the user.
    let state = match params.state {
        Some(s) => s,
        None if pasted => expected_state.clone(),
        None => String::new(),
    };
    if !constant_time_eq(&state, &expected_state) {
        return Err(McpError::StateMismatch);
    }
    let iss = params.iss.or(if pasted { issuer } else { None });
    match session
        .handle_callback_with_issuer(&code, &state, iss.as_deref())
        .await
    {
        Ok(_) => Ok(()),
        Err(AuthError::TokenExchangeFailed(msg)) if dynamic && is_invalid_client(&msg) => {
            files.forget_rejected_client();
            Err(McpError::Auth(AuthError::TokenExchangeFailed(format!(
                "{msg} (the registered client was rejected; it has been forgotten, so the next login registers a new one)"
            ))))
        }
        Err(e) => Err(McpError::Auth(e)),
    }
}
