//! The PKCE engine shared by the authorization-code logins (Anthropic, Gemini, Spotify):
//! S256 verifier/challenge and state generators, parsing of a pasted code or redirect URL,
//! the browser policy, and a small blocking HTTP helper for token endpoints.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// A failed login or refresh step. The message is user-facing (never contains a token);
/// `relogin_required` says the stored grant is dead and only a new login helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FlowError {
    pub message: String,
    /// Error code from the server (`invalid_grant`, …) or a local code (`state_mismatch`, …).
    pub code: Option<String>,
    pub relogin_required: bool,
}

impl FlowError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
            relogin_required: false,
        }
    }
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
    pub fn relogin(mut self) -> Self {
        self.relogin_required = true;
        self
    }
}

/// `n` random bytes from the OS generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the OS random generator is available");
    buf
}

/// base64url (no padding) of `n` random bytes.
pub fn random_urlsafe(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// Lower-case hex of `n` random bytes (`n = 16` gives a uuid4-hex-like 32-char state).
pub fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// The S256 challenge of `verifier`: base64url(SHA-256(verifier)), no padding.
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// A PKCE verifier with its S256 challenge.
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A verifier of base64url(`bytes` random bytes): 32 → 43 chars, 64 → 86 chars (RFC 7636
    /// wants 43..=128).
    pub fn new(bytes: usize) -> Self {
        let verifier = random_urlsafe(bytes.clamp(32, 96));
        let challenge = challenge_s256(&verifier);
        Self {
            verifier,
            challenge,
        }
    }
}

/// What the user pasted: a redirect URL, `code#state`, or a bare code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pasted {
    pub code: String,
    pub state: Option<String>,
}

/// Parses a pasted authorization result. `Ok(None)` for empty input; an `error=` redirect is
/// an `Err` with the provider's description.
pub fn parse_pasted(input: &str) -> Result<Option<Pasted>, FlowError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let looks_like_url = s.starts_with("http://") || s.starts_with("https://");
    let query = if looks_like_url {
        url::Url::parse(s).ok().map(|u| {
            let mut q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
            if let Some(f) = u.fragment() {
                q.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
            }
            q
        })
    } else if s.starts_with('?') || (s.contains("code=") && s.contains('=')) {
        Some(
            url::form_urlencoded::parse(s.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect(),
        )
    } else {
        None
    };
    if let Some(q) = query {
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(err) = get("error") {
            let desc = get("error_description").unwrap_or_else(|| err.clone());
            return Err(FlowError::new(format!("authorization failed: {desc}")).code(err));
        }
        return match get("code") {
            Some(code) => Ok(Some(Pasted {
                code,
                state: get("state"),
            })),
            None => Err(FlowError::new(
                "the pasted URL has no `code` parameter; paste the full redirect URL from the browser's address bar",
            )
            .code("missing_code")),
        };
    }
    Ok(Some(match s.split_once('#') {
        Some((code, state)) => Pasted {
            code: code.trim().to_string(),
            state: Some(state.trim().to_string()).filter(|x| !x.is_empty()),
        },
        None => Pasted {
            code: s.to_string(),
            state: None,
        },
    }))
}

// ---- browser policy (spec §1.3): the shared helpers of `oauth/mod.rs` ----

pub use super::has_graphical_browser as graphical_browser_available;
pub use super::{is_remote_session, open_browser};

// ---- HTTP: the shared client and reply of `oauth/http.rs` ----

/// A token-endpoint answer: status and body text.
pub use super::http::Reply as HttpReply;

/// A request body for [`send`].
pub enum Body<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a serde_json::Value),
    None,
}

/// Sends one request and waits for the answer (no redirects followed). `Err` is a transport
/// failure (connection, TLS, timeout) described with its cause chain.
pub fn send(
    method: &str,
    url: &str,
    body: Body<'_>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<HttpReply, String> {
    let opts = super::http::HttpOptions {
        timeout,
        ..super::http::HttpOptions::default()
    };
    let client = super::http::client("OAuth", &opts).map_err(|e| e.message)?;
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req = match body {
        Body::Form(f) => req.form(f),
        Body::Json(j) => req.json(j),
        Body::None => req,
    };
    super::block_on(async move {
        super::http::exchange(req)
            .await
            .map_err(|(phase, why)| format!("{}{why}", phase.trim_start()))
    })
}

/// Epoch milliseconds now.
pub fn now_ms(now: f64) -> i64 {
    (now * 1000.0) as i64
}

/// `expires_in` of a token response (number or numeric string), else `default`.
pub fn expires_in(j: &serde_json::Map<String, serde_json::Value>, default: i64) -> i64 {
    match j.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(default),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(default),
        _ => default,
    }
}

/// A non-empty string field of a JSON object.
pub fn str_field<'a>(
    j: &'a serde_json::Map<String, serde_json::Value>,
    k: &str,
) -> Option<&'a str> {
    j.get(k)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

// ---- pool write-back ----

/// Replaces the stored row whose id is `entry.id` in `credential_pool.<key>` (appends when
/// absent), leaving every other row byte-for-byte as it was. The caller holds the lock and
/// saves.
pub fn put_pool_entry(
    store: &mut crate::store::AuthStore,
    key: &str,
    entry: &crate::pool::PoolEntry,
) {
    let mut rows: Vec<serde_json::Value> = store
        .pool_entries(key)
        .into_iter()
        .map(|m| serde_json::Value::Object(m.clone()))
        .collect();
    let new = serde_json::Value::Object(entry.to_map(key));
    match rows
        .iter()
        .position(|r| r.get("id").and_then(|v| v.as_str()) == Some(entry.id.as_str()))
    {
        Some(i) => rows[i] = new,
        None => rows.push(new),
    }
    store.set_pool_entries(key, rows);
}

/// The stored row with `id` in `credential_pool.<key>`.
pub fn stored_pool_entry(
    store: &crate::store::AuthStore,
    key: &str,
    id: &str,
) -> Option<crate::pool::PoolEntry> {
    store
        .pool_entries(key)
        .into_iter()
        .find(|m| m.get("id").and_then(|v| v.as_str()) == Some(id))
        .map(|m| crate::pool::PoolEntry::from_map(key, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_example() {
        assert_eq!(
            challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new(32);
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(Pkce::new(64).verifier.len(), 86);
        assert_eq!(random_hex(16).len(), 32);
    }

    #[test]
    fn pasted_forms() {
        let p = |s: &str| parse_pasted(s).unwrap().unwrap();
        assert_eq!(
            p("abc#st"),
            Pasted {
                code: "abc".into(),
                state: Some("st".into())
            }
        );
        assert_eq!(p(" abc \n").state, None);
        let u = p("http://127.0.0.1:8085/oauth2callback?code=C%2F1&state=S&scope=x");
        assert_eq!((u.code.as_str(), u.state.as_deref()), ("C/1", Some("S")));
        assert_eq!(p("?code=Q&state=R").code, "Q");
        assert!(parse_pasted("  ").unwrap().is_none());
        let e = parse_pasted("http://x/cb?error=access_denied&error_description=nope").unwrap_err();
        assert_eq!(e.code.as_deref(), Some("access_denied"));
        assert!(e.message.contains("nope"));
        assert!(parse_pasted("http://x/cb?state=1").is_err());
    }
}
