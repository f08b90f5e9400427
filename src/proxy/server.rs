//! The HTTP side: one handler for every request, forwarding with rotation.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::creds::{Cred, Credentials, Pick, Refreshed};
use super::gate::{self, BODY_LIMIT};
use crate::pool::ErrorContext;

/// Longest `Retry-After` the proxy waits out before retrying the same credential once.
pub const MAX_SAME_KEY_WAIT: f64 = 10.0;
/// Wait before retrying a 429 without `Retry-After` on the same credential.
const DEFAULT_429_WAIT: f64 = 1.0;
/// Bytes of an error body read for the cooldown reason before rotating.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Everything the handler needs.
pub struct Shared {
    pub creds: Arc<Credentials>,
    pub client: reqwest::Client,
    /// Bound to a loopback address: the Host gate applies.
    pub loopback_bind: bool,
    pub client_key: Option<Vec<u8>>,
    pub allow_origins: Vec<String>,
    pub upstream_timeout: Duration,
}

/// The upstream client: one keep-alive pool per upstream host (HTTP/1.1, or HTTP/2 via ALPN),
/// no redirects followed, bodies never decoded.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()
}

pub async fn handle(State(st): State<Arc<Shared>>, req: Request) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut resp = handle_inner(&st, req, origin.as_deref()).await;
    if let Some(o) = origin
        && let Ok(v) = HeaderValue::from_str(&o)
    {
        resp.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

fn origin_allowed(st: &Shared, origin: &str) -> bool {
    let n = gate::normalize_origin(origin);
    gate::is_loopback_origin(origin) || st.allow_origins.iter().any(|a| a == "*" || *a == n)
}

async fn handle_inner(st: &Shared, req: Request, origin: Option<&str>) -> Response {
    // Host gate: a page served from elsewhere reaching us through DNS rebinding names its own host.
    if st.loopback_bind {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        if let Some(h) = host
            && !gate::is_loopback_host(&h)
        {
            return gate::error(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                "This proxy only answers requests addressed to localhost.",
            );
        }
    }
    if let Some(o) = origin
        && !origin_allowed(st, o)
    {
        return gate::error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "Cross-origin requests are refused; start the proxy with --allow-origin <origin> to allow this one.",
        );
    }
    let path = req.uri().path();
    if path == "/health" {
        return health(st, req.method());
    }
    // CORS preflight from an allowed origin is answered here.
    if origin.is_some()
        && req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(req.headers());
    }
    if let Some(key) = &st.client_key
        && !gate::presents_key(req.headers(), key)
    {
        return gate::error(
            StatusCode::UNAUTHORIZED,
            "invalid_client_key",
            "This proxy needs its client key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
        );
    }
    let allowed = st.creds.adapter.spec().allowed_paths;
    let tail = match gate::check_path(path, allowed) {
        Ok(t) => t,
        Err(r) => return gate::path_refused(r, allowed),
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && len > BODY_LIMIT as u64
    {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            if too_big {
                return too_large();
            }
            return gate::error(
                StatusCode::BAD_REQUEST,
                "invalid_request_body",
                "The request body could not be read.",
            );
        }
    };
    let headers = gate::request_headers(&parts.headers);
    forward(st, parts.method, tail, parts.uri.query(), headers, body).await
}

fn too_large() -> Response {
    gate::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        &format!("Request body exceeds the proxy's limit of {BODY_LIMIT} bytes."),
    )
}

fn health(st: &Shared, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = gate::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Use GET or HEAD on /health.",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return r;
    }
    let body = serde_json::json!({
        "status": "ok",
        "upstream": st.creds.adapter.spec().display_name,
        "authenticated": st.creds.authenticated(),
    });
    let mut r = Response::new(if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.to_string())
    });
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn preflight(h: &HeaderMap) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let hs = r.headers_mut();
    hs.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(v) = h.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        hs.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    hs.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

enum Sent {
    Resp(reqwest::Response),
    Fail(Response),
}

async fn send(
    st: &Shared,
    cred: &Cred,
    method: &Method,
    tail: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Sent {
    let url = st.creds.adapter.upstream_url(&cred.base, tail, query);
    let mut h = headers.clone();
    if let Some((n, v)) = &cred.header {
        h.insert(n.clone(), v.clone());
    }
    let mut rb = st.client.request(method.clone(), &url).headers(h);
    if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        rb = rb.body(body.clone());
    }
    st.creds.count(cred);
    match tokio::time::timeout(st.upstream_timeout, rb.send()).await {
        Ok(Ok(r)) => Sent::Resp(r),
        Ok(Err(e)) => {
            let timed_out = e.is_timeout();
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            if timed_out {
                Sent::Fail(gate::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    &format!("upstream request timed out: {msg}"),
                ))
            } else {
                Sent::Fail(gate::error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    &format!("upstream connection failed: {msg}"),
                ))
            }
        }
        Err(_) => Sent::Fail(gate::error(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            &format!(
                "upstream sent no response within {} s",
                st.upstream_timeout.as_secs()
            ),
        )),
    }
}

/// Streams the upstream response to the client as it arrives. A body cut off upstream ends
/// the client's response with an error (the connection is aborted, never a clean end).
fn relay(r: reqwest::Response) -> Response {
    let headers = gate::response_headers(r.headers());
    let resp: http::Response<reqwest::Body> = r.into();
    let mut out = resp.map(Body::new);
    *out.headers_mut() = headers;
    out
}

/// Reads a small error body (for the cooldown reason) before the response is discarded.
async fn read_error_body(r: reqwest::Response) -> Option<String> {
    let fut = async {
        let mut r = r;
        let mut buf = Vec::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            buf.extend_from_slice(&chunk);
            if buf.len() > ERROR_BODY_LIMIT {
                return None;
            }
        }
        String::from_utf8(buf).ok()
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

fn error_context(headers: &HeaderMap, body: Option<&str>, now: f64) -> ErrorContext {
    let mut ctx = ErrorContext::default();
    if let Some(ra) = gate::retry_after(headers) {
        ctx.reset_at = Some(serde_json::json!(now + ra.max(1.0)));
    }
    if let Some(b) = body
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(b)
    {
        let err = v.get("error").unwrap_or(&v);
        let s = |k: &str| err.get(k).and_then(|x| x.as_str()).map(str::to_string);
        ctx.message = s("message");
        ctx.reason = s("code").or_else(|| s("type")).or_else(|| s("reason"));
        if ctx.reset_at.is_none() {
            ctx.reset_at = ["reset_at", "resets_at", "retry_until"]
                .iter()
                .find_map(|k| err.get(*k).cloned());
        }
    }
    ctx
}

fn no_credentials(st: &Shared) -> Response {
    let spec = st.creds.adapter.spec();
    gate::error(
        StatusCode::UNAUTHORIZED,
        "upstream_auth_failed",
        &format!(
            "No usable {} credential in the pool. Run `{}` or `hermes auth reset {}`.",
            spec.display_name, spec.fix_command, spec.pool_key
        ),
    )
}

fn all_cooling(secs: u64) -> Response {
    let mut r = gate::error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        &format!(
            "Every credential in the pool is cooling down after rate limits or quota errors; the first is available again in {secs} s."
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn refresh_unavailable(msg: &str) -> Response {
    let mut r = gate::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "credential_refresh_unavailable",
        &format!(
            "Refreshing the upstream credential failed for a temporary reason; retry shortly. ({msg})"
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

async fn forward(
    st: &Shared,
    method: Method,
    tail: &'static str,
    query: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let creds = &st.creds;
    let mut tried: Vec<Arc<str>> = Vec::new();
    let mut cred = match creds.pick(&tried) {
        Pick::Cred(c) => c,
        Pick::AllCooling(s) => return all_cooling(s),
        Pick::Nothing => return no_credentials(st),
    };
    let mut retried_429 = false;
    let mut refreshed = false;
    let max_attempts = creds.snapshot().creds.len() * 3 + 3;
    for _ in 0..max_attempts {
        if cred.key.is_empty() {
            // An OAuth entry whose key must be refreshed or minted first.
            match creds.refresh(&cred).await {
                Refreshed::Fresh(c) => cred = c,
                Refreshed::Transient(m) => return refresh_unavailable(&m),
                Refreshed::Terminal(_) | Refreshed::NotRefreshable => {
                    creds.mark(&cred, 401, ErrorContext::default());
                    tried.push(cred.id.clone());
                    match creds.pick(&tried) {
                        Pick::Cred(c) => {
                            cred = c;
                            continue;
                        }
                        _ => return no_credentials(st),
                    }
                }
            }
        }
        let resp = match send(st, &cred, &method, tail, query, &headers, &body).await {
            Sent::Resp(r) => r,
            Sent::Fail(f) => return f,
        };
        let status = resp.status().as_u16();
        let now = creds.now();
        match status {
            429 => {
                let ra = gate::retry_after(resp.headers());
                if !retried_429 && ra.is_none_or(|s| s <= MAX_SAME_KEY_WAIT) {
                    retried_429 = true;
                    drop(resp);
                    let wait = ra.unwrap_or(DEFAULT_429_WAIT);
                    if wait > 0.0 {
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                    }
                    continue;
                }
            }
            402 => {}
            401 => {
                if cred.refreshable && !refreshed {
                    refreshed = true;
                    match creds.refresh(&cred).await {
                        Refreshed::Fresh(c) => {
                            drop(resp);
                            cred = c;
                            continue;
                        }
                        Refreshed::Transient(m) => return refresh_unavailable(&m),
                        Refreshed::Terminal(_) | Refreshed::NotRefreshable => {}
                    }
                }
            }
            _ => return relay(resp),
        }
        // Mark the failed credential and rotate; with nowhere to go, relay the upstream answer.
        let mut skip = tried.clone();
        skip.push(cred.id.clone());
        match creds.pick(&skip) {
            Pick::Cred(next) => {
                let rheaders = resp.headers().clone();
                let text = read_error_body(resp).await;
                creds.mark(
                    &cred,
                    status,
                    error_context(&rheaders, text.as_deref(), now),
                );
                tried = skip;
                cred = next;
                retried_429 = false;
                refreshed = false;
            }
            _ => {
                creds.mark(&cred, status, error_context(resp.headers(), None, now));
                return relay(resp);
            }
        }
    }
    gate::error(
        StatusCode::BAD_GATEWAY,
        "upstream_retries_exhausted",
        "Every attempt to reach the upstream failed.",
    )
}
