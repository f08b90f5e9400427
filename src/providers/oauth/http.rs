//! The HTTP client of every OAuth flow and the helpers that turn responses into JSON or an
//! [`OAuthError`]. TLS is rustls with the ring provider; the platform roots plus an optional CA
//! bundle; `--insecure` turns verification off. Token calls never follow redirects.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{ErrorKind, OAuthError};

/// How to build a client.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    pub insecure: bool,
    pub ca_bundle: Option<PathBuf>,
    /// Follow redirects (MiniMax does); token calls keep the default `false`.
    pub follow_redirects: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            insecure: false,
            ca_bundle: None,
            follow_redirects: false,
        }
    }
}

impl HttpOptions {
    pub fn with_timeout(secs: f64) -> Self {
        Self {
            timeout: Duration::from_secs_f64(secs.clamp(1.0, 3600.0)),
            ..Self::default()
        }
    }
}

/// Builds the client. A `ca_bundle` that does not exist or holds no certificate is an error
/// naming the file.
pub fn client(provider: &str, opts: &HttpOptions) -> Result<reqwest::Client, OAuthError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(concat!("hermes/", env!("CARGO_PKG_VERSION")));
    b = b.redirect(if opts.follow_redirects {
        reqwest::redirect::Policy::limited(5)
    } else {
        reqwest::redirect::Policy::none()
    });
    if opts.insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    } else if let Some(path) = &opts.ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            OAuthError::new(
                provider,
                ErrorKind::Config,
                format!("{provider}: cannot read CA bundle {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            OAuthError::new(
                provider,
                ErrorKind::Config,
                format!(
                    "{provider}: CA bundle {} is not a PEM certificate bundle: {e}",
                    path.display()
                ),
            )
        })?;
        if certs.is_empty() {
            return Err(OAuthError::new(
                provider,
                ErrorKind::Config,
                format!(
                    "{provider}: CA bundle {} holds no certificate",
                    path.display()
                ),
            ));
        }
        b = b.tls_certs_merge(certs);
    }
    b.build().map_err(|e| {
        OAuthError::new(
            provider,
            ErrorKind::Config,
            format!("{provider}: cannot set up HTTPS: {}", chain(&e)),
        )
    })
}

/// An error and its causes, `a: b: c`, without repeats (reqwest's own text hides TLS/DNS causes).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A response read to the end.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Seconds from `Retry-After`, when it is an integer.
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The body as a JSON object.
    pub fn json(&self) -> Option<Map<String, Value>> {
        match serde_json::from_str(&self.body).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// `error` / `error_description` of an OAuth error body (also `{"error":{"code","message"}}`).
    pub fn oauth_error(&self) -> Option<(String, Option<String>)> {
        let m = self.json()?;
        match m.get("error")? {
            Value::String(code) => Some((
                code.clone(),
                m.get("error_description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )),
            Value::Object(o) => {
                let code = o
                    .get("code")
                    .or_else(|| o.get("type"))
                    .and_then(Value::as_str)?
                    .to_string();
                Some((
                    code,
                    o.get("message").and_then(Value::as_str).map(str::to_string),
                ))
            }
            _ => None,
        }
    }
    /// A short, secret-free excerpt of the body for error messages (no token-shaped fields).
    pub fn excerpt(&self) -> String {
        if let Some((code, desc)) = self.oauth_error() {
            return match desc {
                Some(d) => format!("{code}: {d}"),
                None => code,
            };
        }
        if self.json().is_some() {
            return "(JSON body)".into();
        }
        let t: String = self.body.trim().chars().take(200).collect();
        if t.is_empty() {
            "(empty body)".into()
        } else {
            t
        }
    }
}

/// Sends `req` and reads the reply; transport failures become `"<what> failed: <cause chain>"`.
pub async fn send(
    provider: &str,
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<Reply, OAuthError> {
    exchange(req).await.map_err(|(phase, why)| {
        OAuthError::transport(provider, format!("{what} failed{phase}: {why}"))
    })
}

/// Sends `req` and reads the reply. A transport failure is `(phase, cause chain)`: the phase is
/// empty for the request and `" while reading the response"` for the body; a certificate
/// failure names the fix.
pub async fn exchange(req: reqwest::RequestBuilder) -> Result<Reply, (&'static str, String)> {
    let resp = req.send().await.map_err(|e| {
        let why = chain(&e);
        let tls = if why.contains("certificate") {
            " (TLS verification failed: trust the server's CA with --ca-bundle <pem> or SSL_CERT_FILE)"
        } else {
            ""
        };
        ("", format!("{why}{tls}"))
    })?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = resp
        .text()
        .await
        .map_err(|e| (" while reading the response", chain(&e)))?;
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

/// `POST url` with a form body and `Accept: application/json`.
pub async fn post_form(
    provider: &str,
    what: &str,
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Result<Reply, OAuthError> {
    let mut req = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(provider, what, req).await
}

/// `POST url` with a JSON body.
pub async fn post_json(
    provider: &str,
    what: &str,
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<Reply, OAuthError> {
    let mut req = client
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(provider, what, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_bundle_is_a_clear_error() {
        let opts = HttpOptions {
            ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..HttpOptions::default()
        };
        let e = client("Nous Portal", &opts).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("/nonexistent/ca.pem"), "{}", e.message);
    }

    #[test]
    fn error_excerpt_never_echoes_tokens() {
        let r = Reply {
            status: 200,
            body: r#"{"access_token":"secret-value"}"#.into(),
            retry_after: None,
        };
        assert!(!r.excerpt().contains("secret-value"));
        let r = Reply {
            status: 400,
            body: r#"{"error":"invalid_grant","error_description":"reuse detected"}"#.into(),
            retry_after: None,
        };
        assert_eq!(r.excerpt(), "invalid_grant: reuse detected");
    }
}
