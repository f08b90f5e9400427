//! One pool entry: typed known fields plus every other key, kept in order.

use std::fmt;

use serde_json::{Map, Value, json};

use super::sanitize;
use crate::timefmt;

pub const STATUS_OK: &str = "ok";
pub const STATUS_EXHAUSTED: &str = "exhausted";
pub const STATUS_DEAD: &str = "dead";

pub const AUTH_API_KEY: &str = "api_key";
pub const AUTH_OAUTH: &str = "oauth";

/// Extra keys the reference knows; written only when non-null.
pub const KNOWN_EXTRAS: &[&str] = &[
    "token_type",
    "scope",
    "client_id",
    "portal_base_url",
    "obtained_at",
    "expires_in",
    "agent_key_id",
    "agent_key_expires_in",
    "agent_key_reused",
    "agent_key_obtained_at",
    "tls",
    "secret_source",
    "secret_fingerprint",
];

/// A credential in a pool. Secrets live in `access_token`, `refresh_token` and `agent_key`;
/// `Debug` redacts them.
#[derive(Clone, PartialEq)]
pub struct PoolEntry {
    pub id: String,
    pub label: String,
    pub auth_type: String,
    pub priority: i64,
    pub source: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub last_status: Option<String>,
    pub last_status_at: Option<f64>,
    pub last_error_code: Option<i64>,
    pub last_error_reason: Option<String>,
    pub last_error_message: Option<String>,
    pub last_error_reset_at: Option<f64>,
    pub base_url: Option<String>,
    pub expires_at: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub last_refresh: Option<String>,
    pub inference_base_url: Option<String>,
    pub agent_key: Option<String>,
    pub agent_key_expires_at: Option<String>,
    pub request_count: i64,
    /// Known extras (`scope`, `tls`, …) and keys this version does not know, in file order.
    pub extra: Map<String, Value>,
}

impl fmt::Debug for PoolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let red = |s: &Option<String>| s.as_deref().map(crate::secret::redact);
        f.debug_struct("PoolEntry")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("auth_type", &self.auth_type)
            .field("priority", &self.priority)
            .field("source", &self.source)
            .field("access_token", &red(&self.access_token))
            .field("refresh_token", &red(&self.refresh_token))
            .field("agent_key", &red(&self.agent_key))
            .field("last_status", &self.last_status)
            .field("last_status_at", &self.last_status_at)
            .field("last_error_code", &self.last_error_code)
            .field("last_error_reset_at", &self.last_error_reset_at)
            .field("request_count", &self.request_count)
            .finish_non_exhaustive()
    }
}

/// A fresh random 6-hex id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_string()
}

fn opt_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn opt_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// Epoch seconds from a number or an ISO string (`last_status_at`).
fn opt_epoch(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .or_else(|| timefmt::parse_iso(s)),
        _ => None,
    }
}

impl PoolEntry {
    /// An entry with every field empty (no id yet).
    fn blank() -> Self {
        Self {
            id: String::new(),
            label: String::new(),
            auth_type: String::new(),
            priority: 0,
            source: String::new(),
            access_token: None,
            refresh_token: None,
            last_status: None,
            last_status_at: None,
            last_error_code: None,
            last_error_reason: None,
            last_error_message: None,
            last_error_reset_at: None,
            base_url: None,
            expires_at: None,
            expires_at_ms: None,
            last_refresh: None,
            inference_base_url: None,
            agent_key: None,
            agent_key_expires_at: None,
            request_count: 0,
            extra: Map::new(),
        }
    }

    /// A new manual-style entry with every status field empty.
    pub fn new(label: &str, auth_type: &str, source: &str) -> Self {
        Self {
            id: new_id(),
            label: label.to_string(),
            auth_type: auth_type.to_string(),
            source: source.to_string(),
            ..Self::blank()
        }
    }

    /// Reads a stored entry leniently, as the reference does (defaults for missing fields).
    /// One pass over the stored keys (a lookup per field made `auth list` slow on big pools).
    pub fn from_map(pool_key: &str, m: &Map<String, Value>) -> Self {
        let mut e = Self::blank();
        for (k, raw) in m {
            let v = Some(raw);
            match k.as_str() {
                "id" => e.id = opt_str(v).unwrap_or_default(),
                "label" => e.label = opt_str(v).unwrap_or_default(),
                "auth_type" => e.auth_type = opt_str(v).unwrap_or_default(),
                "priority" => e.priority = opt_i64(v).unwrap_or(0),
                "source" => e.source = opt_str(v).unwrap_or_default(),
                "access_token" => e.access_token = opt_str(v),
                "refresh_token" => e.refresh_token = opt_str(v),
                "last_status" => e.last_status = opt_str(v),
                "last_status_at" => e.last_status_at = opt_epoch(v),
                "last_error_code" => e.last_error_code = opt_i64(v),
                "last_error_reason" => e.last_error_reason = opt_str(v),
                "last_error_message" => e.last_error_message = opt_str(v),
                "last_error_reset_at" => {
                    e.last_error_reset_at = v.and_then(super::cooldown::parse_absolute)
                }
                "base_url" => e.base_url = opt_str(v),
                "expires_at" => e.expires_at = opt_str(v),
                "expires_at_ms" => e.expires_at_ms = opt_i64(v),
                "last_refresh" => e.last_refresh = opt_str(v),
                "inference_base_url" => e.inference_base_url = opt_str(v),
                "agent_key" => e.agent_key = opt_str(v),
                "agent_key_expires_at" => e.agent_key_expires_at = opt_str(v),
                "request_count" => e.request_count = opt_i64(v).unwrap_or(0),
                _ => {
                    e.extra.insert(k.clone(), raw.clone());
                }
            }
        }
        if e.source.is_empty() {
            e.source = "manual".into();
        }
        if e.label.is_empty() {
            e.label = e.source.clone();
        }
        if e.id.is_empty() {
            e.id = new_id();
        }
        if e.auth_type.is_empty() {
            e.auth_type = AUTH_API_KEY.into();
        }
        if e.access_token.is_none() {
            e.access_token = Some(String::new());
        }
        e.normalize_auth_type(pool_key);
        e
    }

    /// Anthropic OAuth tokens (`sk-ant-oat…`) are stored as `oauth` whatever the caller said.
    /// Returns whether it changed.
    pub fn normalize_auth_type(&mut self, pool_key: &str) -> bool {
        if pool_key == "anthropic"
            && self
                .access_token
                .as_deref()
                .is_some_and(|t| t.starts_with("sk-ant-oat"))
            && self.auth_type != AUTH_OAUTH
        {
            self.auth_type = AUTH_OAUTH.into();
            return true;
        }
        false
    }

    /// The form written to `auth.json`: fixed field order, then extras; borrowed entries
    /// (env, config, external files) keep only a `sha256:` fingerprint of their secret.
    pub fn to_map(&self, pool_key: &str) -> Map<String, Value> {
        let owned = !sanitize::is_borrowed(pool_key, &self.source);
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("label".into(), json!(self.label));
        m.insert("auth_type".into(), json!(self.auth_type));
        m.insert("priority".into(), json!(self.priority));
        m.insert("source".into(), json!(self.source));
        if owned {
            if let Some(v) = &self.access_token {
                m.insert("access_token".into(), json!(v));
            }
            if let Some(v) = &self.refresh_token {
                m.insert("refresh_token".into(), json!(v));
            }
        }
        m.insert("last_status".into(), json!(self.last_status));
        m.insert("last_status_at".into(), json!(self.last_status_at));
        m.insert("last_error_code".into(), json!(self.last_error_code));
        m.insert("last_error_reason".into(), json!(self.last_error_reason));
        m.insert("last_error_message".into(), json!(self.last_error_message));
        m.insert(
            "last_error_reset_at".into(),
            json!(self.last_error_reset_at),
        );
        fn put(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        put(&mut m, "base_url", &self.base_url);
        put(&mut m, "expires_at", &self.expires_at);
        if let Some(v) = self.expires_at_ms {
            m.insert("expires_at_ms".into(), json!(v));
        }
        put(&mut m, "last_refresh", &self.last_refresh);
        put(&mut m, "inference_base_url", &self.inference_base_url);
        if owned && let Some(v) = &self.agent_key {
            m.insert("agent_key".into(), json!(v));
        }
        put(&mut m, "agent_key_expires_at", &self.agent_key_expires_at);
        m.insert("request_count".into(), json!(self.request_count));
        for (k, v) in &self.extra {
            if v.is_null() && KNOWN_EXTRAS.contains(&k.as_str()) {
                continue;
            }
            m.insert(k.clone(), v.clone());
        }
        if !owned {
            let secret = [&self.agent_key, &self.access_token, &self.refresh_token]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty())
                .cloned();
            sanitize::sanitize_borrowed(&mut m, secret.as_deref());
        }
        m
    }

    /// Sets one field by its stored name (typed field or extra). Used by seeding upserts.
    pub fn set_field(&mut self, key: &str, v: &Value) {
        match key {
            "label" => self.label = opt_str(Some(v)).unwrap_or_default(),
            "auth_type" => self.auth_type = opt_str(Some(v)).unwrap_or_else(|| AUTH_API_KEY.into()),
            "source" => self.source = opt_str(Some(v)).unwrap_or_default(),
            "access_token" => self.access_token = opt_str(Some(v)),
            "refresh_token" => self.refresh_token = opt_str(Some(v)),
            "base_url" => self.base_url = opt_str(Some(v)),
            "expires_at" => self.expires_at = opt_str(Some(v)),
            "expires_at_ms" => self.expires_at_ms = opt_i64(Some(v)),
            "last_refresh" => self.last_refresh = opt_str(Some(v)),
            "inference_base_url" => self.inference_base_url = opt_str(Some(v)),
            "agent_key" => self.agent_key = opt_str(Some(v)),
            "agent_key_expires_at" => self.agent_key_expires_at = opt_str(Some(v)),
            "last_status" => self.last_status = opt_str(Some(v)),
            _ => {
                self.extra.insert(key.to_string(), v.clone());
            }
        }
    }

    pub fn is_manual(&self) -> bool {
        sanitize::is_manual(&self.source)
    }

    /// The secret an upstream request uses, or `""` when this row holds none usable.
    pub fn runtime_api_key(&self, pool_key: &str, now: f64) -> String {
        if pool_key == "nous" {
            // A minted agent key (agent-key portals, `agent_key_id` set) is opaque: its stored
            // expiry decides.
            if self.extra.get("agent_key_id").is_some_and(|v| !v.is_null())
                && let Some(k) = self.agent_key.as_deref().filter(|k| !k.is_empty())
                && self
                    .agent_key_expires_at
                    .as_deref()
                    .and_then(timefmt::parse_iso)
                    .is_some_and(|e| e - now > 120.0)
            {
                return k.to_string();
            }
            for (tok, exp_iso) in [
                (&self.agent_key, &self.agent_key_expires_at),
                (&self.access_token, &self.expires_at),
            ] {
                if let Some(t) = tok.as_deref().filter(|t| !t.is_empty())
                    && nous_invoke_usable(
                        t,
                        self.extra.get("scope").and_then(Value::as_str),
                        exp_iso.as_deref(),
                        now,
                    )
                {
                    return t.to_string();
                }
            }
            return String::new();
        }
        self.access_token.clone().unwrap_or_default()
    }

    /// `inference_base_url` for nous, else `base_url`.
    pub fn runtime_base_url(&self, pool_key: &str) -> Option<&str> {
        if pool_key == "nous" {
            self.inference_base_url
                .as_deref()
                .or(self.base_url.as_deref())
        } else {
            self.base_url.as_deref()
        }
    }

    /// Clears the six status and error fields; returns whether any was set.
    pub fn clear_status(&mut self) -> bool {
        let had = self.last_status.is_some()
            || self.last_status_at.is_some()
            || self.last_error_code.is_some()
            || self.last_error_reason.is_some()
            || self.last_error_message.is_some()
            || self.last_error_reset_at.is_some();
        self.last_status = None;
        self.last_status_at = None;
        self.last_error_code = None;
        self.last_error_reason = None;
        self.last_error_message = None;
        self.last_error_reset_at = None;
        had
    }

    pub fn status_is(&self, s: &str) -> bool {
        self.last_status.as_deref() == Some(s)
    }
}

/// Nous invoke-JWT rule: a JWT carrying `inference:invoke` that expires more than 120 s from now.
pub fn nous_invoke_usable(
    token: &str,
    scope: Option<&str>,
    exp_iso: Option<&str>,
    now: f64,
) -> bool {
    if !crate::jwt::is_jwt(token) {
        return false;
    }
    let mut scopes = crate::jwt::scopes(token);
    if let Some(s) = scope {
        scopes.extend(s.split_whitespace().map(str::to_string));
    }
    if !scopes.iter().any(|s| s == "inference:invoke") {
        return false;
    }
    let exp = crate::jwt::exp(token).or_else(|| exp_iso.and_then(timefmt::parse_iso));
    exp.is_some_and(|e| e - now > 120.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_reference_entry_with_unknown_fields() {
        let raw = json!({
            "id": "da103a", "label": "a", "auth_type": "api_key", "priority": 0, "source": "manual",
            "access_token": "sk-test-1", "last_status": null, "last_status_at": null,
            "last_error_code": null, "last_error_reason": null, "last_error_message": null,
            "last_error_reset_at": null, "base_url": "https://openrouter.ai/api/v1",
            "request_count": 0, "x_future_field": {"a": 1}
        });
        let e = PoolEntry::from_map("openrouter", raw.as_object().unwrap());
        assert_eq!(Value::Object(e.to_map("openrouter")), raw);
        let text = serde_json::to_string(&e.to_map("openrouter")).unwrap();
        let raw_text = serde_json::to_string(&raw).unwrap();
        assert_eq!(text, raw_text, "field order is kept");
    }

    #[test]
    fn borrowed_entries_keep_only_a_fingerprint() {
        let mut e = PoolEntry::new("OPENROUTER_API_KEY", "api_key", "env:OPENROUTER_API_KEY");
        e.access_token = Some("sk-or-env-1234567890".into());
        let m = e.to_map("openrouter");
        assert!(!m.contains_key("access_token"));
        assert_eq!(m["secret_fingerprint"], "sha256:c1ac587fcf3151c4");
        assert!(!format!("{e:?}").contains("1234567890"));
    }

    #[test]
    fn iso_last_status_at_is_parsed() {
        let raw = json!({"last_status_at": "1970-01-01T00:01:40Z", "last_error_reset_at": 1_700_000_000_000i64});
        let e = PoolEntry::from_map("x", raw.as_object().unwrap());
        assert_eq!(e.last_status_at, Some(100.0));
        assert_eq!(e.last_error_reset_at, Some(1_700_000_000.0));
        assert_eq!(e.source, "manual");
    }

    #[test]
    fn nous_runtime_key_needs_an_invoke_jwt() {
        let jwt = crate::jwt::make_unsigned(&json!({"scope": "inference:invoke", "exp": 10_000}));
        let mut e = PoolEntry::new("n", "oauth", "device_code");
        e.agent_key = Some(jwt.clone());
        assert_eq!(e.runtime_api_key("nous", 1000.0), jwt);
        assert_eq!(e.runtime_api_key("nous", 9_950.0), "");
        e.agent_key = Some("opaque".into());
        assert_eq!(e.runtime_api_key("nous", 1000.0), "");
    }
}
