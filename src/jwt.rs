//! Unverified JWT claim reading (labels, expiry, scopes). No signature check: these are our own
//! tokens read back from our own store, used only for display and refresh timing.

use base64::Engine;
use serde_json::{Map, Value};

/// The claims of `header.payload.signature`, or an empty map when the token is not a JWT.
pub fn claims(token: &str) -> Map<String, Value> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Map::new();
    }
    let payload = parts[1].trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Map::new();
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub fn is_jwt(token: &str) -> bool {
    token.matches('.').count() == 2 && !claims(token).is_empty()
}

/// `exp` as epoch seconds.
pub fn exp(token: &str) -> Option<f64> {
    claims(token).get("exp").and_then(Value::as_f64)
}

/// The first non-empty of `email`, `preferred_username`, `upn`: the default label of an OAuth login.
pub fn label(token: &str) -> Option<String> {
    let c = claims(token);
    ["email", "preferred_username", "upn"]
        .iter()
        .filter_map(|k| c.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// Scopes from the `scope` (space separated) or `scp` (list or string) claim.
pub fn scopes(token: &str) -> Vec<String> {
    let c = claims(token);
    let mut out = Vec::new();
    for key in ["scope", "scp"] {
        match c.get(key) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(a)) => {
                out.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
pub(crate) fn make_unsigned(claims: &Value) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig",
        e.encode(br#"{"alg":"none"}"#),
        e.encode(serde_json::to_vec(claims).unwrap())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_claims_of_unsigned_tokens() {
        let t =
            make_unsigned(&json!({"email": "a@b.c", "exp": 100, "scope": "inference:invoke x"}));
        assert_eq!(label(&t).as_deref(), Some("a@b.c"));
        assert_eq!(exp(&t), Some(100.0));
        assert_eq!(scopes(&t), vec!["inference:invoke", "x"]);
        assert!(is_jwt(&t));
        assert!(!is_jwt("opaque-token"));
        assert!(claims("a.b").is_empty());
    }
}
