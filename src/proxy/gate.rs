//! Request hygiene: the path allow-list, Host/Origin gates, the client key, header filtering,
//! and the proxy's own OpenAI-shaped error bodies.

use std::net::IpAddr;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// Request bodies above this many bytes are refused with 413.
pub const BODY_LIMIT: usize = 10_000_000;

/// `{"error": {"message", "type", "code"}}` with `status`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": code, "code": code}});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// Why a path is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PathRefusal {
    /// Dot segment or encoded slash: refused without listing anything.
    Traversal,
    /// Outside the allow-list; carries the decoded path for the message.
    NotAllowed(String),
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = hex(*b.get(i + 1)?)?;
            let l = hex(*b.get(i + 2)?)?;
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Checks a raw request path against `allowed` (paths relative to `/v1`); returns the allowed
/// tail to forward. `/v1//models` and `/v1/%6dodels` mean `/v1/models`; `..`, `.`, `%2e%2e`,
/// `%2f` and backslashes are refused.
pub fn check_path(raw: &str, allowed: &[&'static str]) -> Result<&'static str, PathRefusal> {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || raw.contains('\\') {
        return Err(PathRefusal::Traversal);
    }
    let decoded = percent_decode(raw).ok_or(PathRefusal::Traversal)?;
    let decoded = String::from_utf8(decoded).map_err(|_| PathRefusal::Traversal)?;
    if decoded.contains('\\') || decoded.chars().any(char::is_control) {
        return Err(PathRefusal::Traversal);
    }
    let segs: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return Err(PathRefusal::Traversal);
    }
    if segs.first() == Some(&"v1") && segs.len() > 1 {
        let tail = format!("/{}", segs[1..].join("/"));
        if let Some(a) = allowed.iter().find(|a| **a == tail) {
            return Ok(a);
        }
    }
    Err(PathRefusal::NotAllowed(decoded))
}

/// The 404 for a refused path.
pub fn path_refused(r: PathRefusal, allowed: &[&str]) -> Response {
    let list = allowed
        .iter()
        .map(|p| format!("/v1{p}"))
        .collect::<Vec<_>>()
        .join(", ");
    let msg = match r {
        PathRefusal::Traversal => {
            format!(
                "Path is not forwarded by this proxy (dot segments and encoded slashes are refused). Allowed: {list}"
            )
        }
        PathRefusal::NotAllowed(p) => {
            let shown: String = p.chars().take(200).collect();
            format!("Path {shown} is not forwarded by this proxy. Allowed: {list}")
        }
    };
    error(StatusCode::NOT_FOUND, "path_not_allowed", &msg)
}

/// Whether a `Host` header value (or URI authority) names this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _)) => inside,
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => h,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether an `Origin` is a page served from this machine.
pub fn is_loopback_origin(origin: &str) -> bool {
    match url::Url::parse(origin) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => match u.host() {
            Some(url::Host::Domain(d)) => is_loopback_host(d),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// `--allow-origin` values, normalised for comparison.
pub fn normalize_origin(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Constant-time comparison (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether the request presents `key` as `Authorization: Bearer K` or `x-api-key: K`.
pub fn presents_key(headers: &HeaderMap, key: &[u8]) -> bool {
    let mut ok = false;
    for v in headers.get_all(header::AUTHORIZATION) {
        let b = v.as_bytes();
        if b.len() > 7 && b[..7].eq_ignore_ascii_case(b"bearer ") {
            ok |= ct_eq(b[7..].trim_ascii(), key);
        }
    }
    for v in headers.get_all("x-api-key") {
        ok |= ct_eq(v.as_bytes().trim_ascii(), key);
    }
    ok
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus what the proxy always sets itself.
const REQUEST_DROP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
    "authorization",
    "x-api-key",
];

const RESPONSE_DROP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn connection_named(h: &HeaderMap) -> Vec<String> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn filter(h: &HeaderMap, drop: &[&str]) -> HeaderMap {
    let named = connection_named(h);
    let mut out = HeaderMap::with_capacity(h.len());
    for (name, value) in h {
        let n = name.as_str();
        if drop.contains(&n) || named.iter().any(|x| x == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The headers forwarded upstream: the client's minus hop-by-hop and client credentials.
pub fn request_headers(h: &HeaderMap) -> HeaderMap {
    filter(h, REQUEST_DROP)
}

/// The upstream's response headers minus hop-by-hop ones (every repeated value kept).
pub fn response_headers(h: &HeaderMap) -> HeaderMap {
    filter(h, RESPONSE_DROP)
}

/// `Retry-After` in seconds (delta form; an HTTP date counts as unknown).
pub fn retry_after(h: &HeaderMap) -> Option<f64> {
    let v = h.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[&str] = &["/chat/completions", "/models"];

    #[test]
    fn paths() {
        assert_eq!(check_path("/v1/models", A), Ok("/models"));
        assert_eq!(check_path("/v1//models", A), Ok("/models"));
        assert_eq!(check_path("/v1/%6dodels", A), Ok("/models"));
        assert_eq!(
            check_path("/v1/../v1/models", A),
            Err(PathRefusal::Traversal)
        );
        assert_eq!(
            check_path("/v1/%2e%2e/models", A),
            Err(PathRefusal::Traversal)
        );
        assert_eq!(
            check_path("/v1/%2E%2e/models", A),
            Err(PathRefusal::Traversal)
        );
        assert_eq!(check_path("/v1/./models", A), Err(PathRefusal::Traversal));
        assert_eq!(check_path("/v1%2fmodels", A), Err(PathRefusal::Traversal));
        assert_eq!(check_path("/v1/mo%zzdels", A), Err(PathRefusal::Traversal));
        assert!(matches!(
            check_path("/v1/models/x", A),
            Err(PathRefusal::NotAllowed(_))
        ));
        assert!(matches!(
            check_path("/V1/models", A),
            Err(PathRefusal::NotAllowed(_))
        ));
        assert!(matches!(
            check_path("/v2/models", A),
            Err(PathRefusal::NotAllowed(_))
        ));
        assert!(matches!(
            check_path("/", A),
            Err(PathRefusal::NotAllowed(_))
        ));
        assert!(matches!(
            check_path("/v1", A),
            Err(PathRefusal::NotAllowed(_))
        ));
    }

    #[test]
    fn hosts_and_origins() {
        for h in [
            "localhost",
            "localhost:8645",
            "127.0.0.1:1",
            "[::1]:80",
            "LOCALHOST.",
            "a.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "attacker.example",
            "attacker.example:8645",
            "10.0.0.1",
            "[::2]:1",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback_origin("http://localhost:3000"));
        assert!(is_loopback_origin("http://127.0.0.1"));
        assert!(!is_loopback_origin("https://attacker.example"));
        assert!(!is_loopback_origin("null"));
    }

    #[test]
    fn headers_filtered() {
        let mut h = HeaderMap::new();
        h.append("authorization", "Bearer client".parse().unwrap());
        h.append("x-api-key", "sk-client".parse().unwrap());
        h.append("connection", "keep-alive, X-Hop".parse().unwrap());
        h.append("x-hop", "secret".parse().unwrap());
        h.append("x-dup", "1".parse().unwrap());
        h.append("x-dup", "2".parse().unwrap());
        h.append("content-encoding", "gzip".parse().unwrap());
        h.append("te", "trailers".parse().unwrap());
        let f = request_headers(&h);
        assert!(f.get("authorization").is_none());
        assert!(f.get("x-api-key").is_none());
        assert!(f.get("x-hop").is_none());
        assert!(f.get("te").is_none());
        assert_eq!(f.get_all("x-dup").iter().count(), 2);
        assert_eq!(f.get("content-encoding").unwrap(), "gzip");
    }

    #[test]
    fn client_key() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer k1".parse().unwrap());
        assert!(presents_key(&h, b"k1"));
        assert!(!presents_key(&h, b"k2"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k1".parse().unwrap());
        assert!(presents_key(&h, b"k1"));
        assert!(!presents_key(&HeaderMap::new(), b"k1"));
    }
}
