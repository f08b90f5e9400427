//! Owned vs borrowed credentials. A borrowed credential (env var, config value, another tool's
//! file) is re-read from its source on every load; on disk it keeps only a fingerprint.

use serde_json::{Map, Value, json};

const OWNED_PAIRS: &[(&str, &str)] = &[
    ("anthropic", "hermes_pkce"),
    ("minimax-oauth", "oauth"),
    ("nous", "device_code"),
    ("openai-codex", "device_code"),
    ("xai-oauth", "device_code"),
];

/// `manual` or `manual:*` (case-insensitive, trimmed).
pub fn is_manual(source: &str) -> bool {
    let s = source.trim().to_lowercase();
    s == "manual" || s.starts_with("manual:")
}

/// Unknown sources count as borrowed (fail closed: their secrets are never written).
pub fn is_borrowed(pool_key: &str, source: &str) -> bool {
    let s = source.trim().to_lowercase();
    if s.is_empty() || is_manual(&s) {
        return false;
    }
    let k = pool_key.trim().to_lowercase();
    !OWNED_PAIRS.iter().any(|(p, src)| *p == k && *src == s)
}

/// `sha256:` + the first 16 hex digits of SHA-256(value).
pub fn fingerprint(value: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    let hex: String = d
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

const SECRET_NAMES: &[&str] = &[
    "access_token",
    "refresh_token",
    "agent_key",
    "api_key",
    "apikey",
    "api_token",
    "auth_token",
    "authorization",
    "bearer_token",
    "client_secret",
    "credential",
    "credentials",
    "id_token",
    "oauth_token",
    "private_key",
    "secret_key",
    "session_token",
    "password",
    "secret",
    "token",
    "tokens",
];
const SECRET_SUFFIXES: &[&str] = &[
    "_api_key",
    "_api_token",
    "_access_token",
    "_auth_token",
    "_refresh_token",
    "_bearer_token",
    "_client_secret",
    "_id_token",
    "_oauth_token",
    "_private_key",
    "_session_token",
    "_secret_key",
    "_password",
    "_secret",
    "_token",
    "_key",
];
const SAFE_NAMES: &[&str] = &[
    "secret_fingerprint",
    "secret_source",
    "token_type",
    "scope",
    "client_id",
    "agent_key_id",
    "agent_key_expires_at",
    "agent_key_expires_in",
    "agent_key_reused",
    "agent_key_obtained_at",
    "expires_at",
    "expires_at_ms",
    "expires_in",
    "last_refresh",
    "last_status",
    "last_status_at",
    "last_error_code",
    "last_error_reason",
    "last_error_message",
    "last_error_reset_at",
];

fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev: Option<char> = None;
    for c in key.chars() {
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        out.extend(c.to_lowercase());
        prev = Some(c);
    }
    out.replace(['-', '.'], "_")
}

/// Whether a key name looks like it holds a secret (`apiKey`, `x_api_key`, `token`, …).
pub fn is_secret_like(key: &str) -> bool {
    let n = normalize_key(key);
    if SAFE_NAMES.contains(&n.as_str()) {
        return false;
    }
    SECRET_NAMES.contains(&n.as_str()) || SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// Removes every secret-like key and records `secret_fingerprint` (of `secret`, else of the
/// first secret-like value found, else the existing fingerprint is kept).
pub fn sanitize_borrowed(m: &mut Map<String, Value>, secret: Option<&str>) {
    let mut fp = secret.filter(|s| !s.is_empty()).map(fingerprint);
    if fp.is_none() {
        for key in [
            "agent_key",
            "access_token",
            "refresh_token",
            "api_key",
            "token",
            "secret",
        ] {
            if let Some(Value::String(s)) = m.get(key)
                && !s.is_empty()
            {
                fp = Some(fingerprint(s));
                break;
            }
        }
    }
    if fp.is_none() {
        fp = m
            .iter()
            .find(|(k, v)| is_secret_like(k) && v.as_str().is_some_and(|s| !s.is_empty()))
            .and_then(|(_, v)| v.as_str().map(fingerprint));
    }
    m.retain(|k, _| !is_secret_like(k));
    if let Some(fp) = fp {
        m.insert("secret_fingerprint".into(), json!(fp));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership() {
        assert!(!is_borrowed("openrouter", "manual"));
        assert!(!is_borrowed("anthropic", "manual:hermes_pkce"));
        assert!(!is_borrowed("nous", "device_code"));
        assert!(is_borrowed("copilot", "device_code"));
        assert!(is_borrowed("openrouter", "env:OPENROUTER_API_KEY"));
        assert!(is_borrowed("openrouter", "systemd://x"));
    }

    #[test]
    fn secret_like_keys() {
        for k in [
            "apiKey",
            "api_key",
            "x-api-key",
            "client_secret",
            "token",
            "githubToken",
            "private.key",
        ] {
            assert!(is_secret_like(k), "{k}");
        }
        for k in [
            "token_type",
            "scope",
            "secret_fingerprint",
            "label",
            "expires_at",
            "agent_key_id",
        ] {
            assert!(!is_secret_like(k), "{k}");
        }
    }

    #[test]
    fn fingerprint_matches_the_reference() {
        assert_eq!(
            fingerprint("sk-or-env-1234567890"),
            "sha256:c1ac587fcf3151c4"
        );
    }
}
