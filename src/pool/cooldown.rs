//! Cooldown arithmetic: when an exhausted credential may be retried, how provider error
//! messages announce a reset time, and how `auth list` describes a cooling entry.

use serde_json::Value;

use super::entry::{PoolEntry, STATUS_DEAD, STATUS_EXHAUSTED};

/// Cooldown after an error with this HTTP status when no reset time is known.
pub fn ttl(code: Option<i64>) -> f64 {
    match code {
        Some(401) => 300.0,
        _ => 3600.0,
    }
}

/// When an exhausted entry may be used again; `None` = no known end (available at once).
pub fn until(e: &PoolEntry) -> Option<f64> {
    if let Some(r) = e.last_error_reset_at {
        return Some(r);
    }
    match e.last_status_at {
        Some(at) if at != 0.0 => Some(at + ttl(e.last_error_code)),
        _ => None,
    }
}

/// Whether an exhausted entry is still cooling down at `now`.
pub fn cooling(e: &PoolEntry, now: f64) -> bool {
    e.last_status.as_deref() == Some(STATUS_EXHAUSTED) && until(e).is_some_and(|u| now < u)
}

fn from_number(n: f64) -> Option<f64> {
    if n > 1e12 { Some(n / 1000.0) } else { Some(n) }
}

/// A reset time given as epoch seconds, epoch milliseconds or ISO-8601.
pub fn parse_absolute(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => {
            let n = n.as_f64()?;
            if n <= 0.0 { None } else { from_number(n) }
        }
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            if let Ok(n) = s.parse::<f64>() {
                return from_number(n);
            }
            crate::timefmt::parse_iso(s)
        }
        _ => None,
    }
}

/// What an upstream said about a failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorContext {
    pub reason: Option<String>,
    pub message: Option<String>,
    /// `reset_at` / `resets_at` / `retry_until` as sent (seconds, ms or ISO).
    pub reset_at: Option<Value>,
}

impl ErrorContext {
    pub fn reason(r: &str) -> Self {
        Self {
            reason: Some(r.into()),
            ..Self::default()
        }
    }
    pub fn message(m: &str) -> Self {
        Self {
            message: Some(m.into()),
            ..Self::default()
        }
    }

    /// `(reason, message, reset_at)` trimmed, with the reset time parsed or read from the message.
    pub fn normalize(&self, now: f64) -> (Option<String>, Option<String>, Option<f64>) {
        let clean = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let reason = clean(&self.reason);
        let message = clean(&self.message);
        let reset = self.reset_at.as_ref().and_then(parse_absolute).or_else(|| {
            message
                .as_deref()
                .and_then(retry_delay_from_message)
                .map(|d| now + d)
        });
        (reason, message, reset)
    }
}

/// Parses a leading decimal number; returns it and the rest.
fn number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

fn after_word_boundary(rest: &str) -> bool {
    !rest
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Seconds until reset announced in a provider message (`retry after 30s`,
/// `quotaResetDelay: "1500ms"`, `Resets in 4hr 5min`).
pub fn retry_delay_from_message(message: &str) -> Option<f64> {
    let lower = message.to_lowercase();
    // quotaResetDelay: "1500ms"
    for (i, _) in lower.match_indices("quotaresetdelay") {
        let rest = lower[i + "quotaresetdelay".len()..].trim_start_matches([':', ' ', '"']);
        if let Some((n, tail)) = number(rest) {
            if tail.starts_with("ms") {
                return Some(n / 1000.0);
            }
            if tail.starts_with('s') {
                return Some(n);
            }
        }
    }
    // retry [after] N [s|sec|secs|seconds]
    for (i, _) in lower.match_indices("retry") {
        let mut rest = lower[i + 5..].trim_start();
        if let Some(r) = rest.strip_prefix("after") {
            rest = r.trim_start();
        }
        if let Some((n, tail)) = number(rest) {
            let tail = tail.trim_start();
            for unit in ["seconds", "secs", "sec", "s"] {
                if let Some(r) = tail.strip_prefix(unit)
                    && after_word_boundary(r)
                {
                    return Some(n);
                }
            }
        }
    }
    // reset(s) in Hhr Mmin
    for pat in ["resets in", "reset in"] {
        for (i, _) in lower.match_indices(pat) {
            let rest = lower[i + pat.len()..].trim_start();
            let Some((n, tail)) = number(rest) else {
                continue;
            };
            let tail = tail.trim_start();
            if let Some(t) = tail.strip_prefix("hr") {
                let mut secs = n * 3600.0;
                let t = t.trim_start_matches('s').trim_start();
                if let Some((m, t2)) = number(t)
                    && t2.trim_start().starts_with("min")
                {
                    secs += m * 60.0;
                }
                return Some(secs);
            }
            if tail.starts_with("min") {
                return Some(n * 60.0);
            }
        }
    }
    None
}

/// Whether a 401 with this reason means the credential is permanently dead.
pub fn is_dead_reason(code: Option<i64>, reason: Option<&str>) -> bool {
    code == Some(401)
        && reason.is_some_and(|r| {
            matches!(
                r.to_lowercase().as_str(),
                "token_invalidated"
                    | "token_revoked"
                    | "invalid_token"
                    | "invalid_grant"
                    | "unauthorized_client"
                    | "refresh_token_reused"
            )
        })
}

/// Marks an entry exhausted (or dead) at `now` with the normalized error context.
pub fn mark(e: &mut PoolEntry, code: Option<i64>, ctx: &ErrorContext, now: f64) {
    let (reason, message, reset) = ctx.normalize(now);
    let dead = is_dead_reason(code, reason.as_deref());
    e.last_status = Some(if dead { STATUS_DEAD } else { STATUS_EXHAUSTED }.into());
    e.last_status_at = Some(now);
    e.last_error_code = code;
    e.last_error_reason = reason;
    e.last_error_message = message;
    e.last_error_reset_at = reset;
}

/// `59m 0s`, `1d 1h`, `2h 5m`, `42s` for a positive number of seconds (rounded up).
pub fn format_remaining(secs: f64) -> String {
    let total = secs.ceil().max(0.0) as i64;
    let (d, h, m, s) = (
        total / 86_400,
        (total % 86_400) / 3600,
        (total % 3600) / 60,
        total % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// How `auth list` classifies an exhausted entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolClass {
    RateLimited,
    AuthFailed,
    Exhausted,
}

impl CoolClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate-limited",
            Self::AuthFailed => "auth failed",
            Self::Exhausted => "exhausted",
        }
    }
}

pub fn classify(e: &PoolEntry) -> CoolClass {
    let reason = e.last_error_reason.as_deref().unwrap_or("").to_lowercase();
    let msg = e.last_error_message.as_deref().unwrap_or("").to_lowercase();
    let any = |hay: &str, needles: &[&str]| needles.iter().any(|n| hay.contains(n));
    if e.last_error_code == Some(429)
        || any(
            &reason,
            &["rate_limit", "usage_limit", "quota", "exhausted"],
        )
        || any(
            &msg,
            &["rate limit", "usage limit", "quota", "too many requests"],
        )
    {
        CoolClass::RateLimited
    } else if matches!(e.last_error_code, Some(401) | Some(403))
        || any(
            &reason,
            &[
                "invalid_token",
                "invalid_grant",
                "unauthorized",
                "forbidden",
                "auth",
            ],
        )
        || any(
            &msg,
            &[
                "unauthorized",
                "forbidden",
                "expired",
                "revoked",
                "invalid token",
                "authentication",
            ],
        )
    {
        CoolClass::AuthFailed
    } else {
        CoolClass::Exhausted
    }
}

/// The status text after the source column of `auth list` (empty for healthy entries).
/// Unlike the reference, a dead entry says so.
pub fn status_suffix(e: &PoolEntry, now: f64) -> String {
    let code = e
        .last_error_code
        .filter(|c| *c != 0)
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let reason = e
        .last_error_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    if e.status_is(STATUS_DEAD) {
        return format!(" dead{reason}{code} (re-auth required)");
    }
    if !e.status_is(STATUS_EXHAUSTED) {
        return String::new();
    }
    let class = classify(e);
    let tail = if class == CoolClass::AuthFailed {
        " (re-auth may be required)".to_string()
    } else {
        match until(e) {
            None => String::new(),
            Some(u) if u <= now => " (ready to retry)".to_string(),
            Some(u) => format!(" ({} left)", format_remaining(u - now)),
        }
    };
    format!(" {}{reason}{code}{tail}", class.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exhausted(code: i64, at: f64) -> PoolEntry {
        let mut e = PoolEntry::new("x", "api_key", "manual");
        e.last_status = Some("exhausted".into());
        e.last_status_at = Some(at);
        e.last_error_code = Some(code);
        e
    }

    #[test]
    fn list_texts_match_the_reference() {
        let t = 1_000_000.0;
        assert_eq!(
            status_suffix(&exhausted(429, t - 60.0), t),
            " rate-limited (429) (59m 0s left)"
        );
        assert_eq!(
            status_suffix(&exhausted(401, t - 10.0), t),
            " auth failed (401) (re-auth may be required)"
        );
        assert_eq!(
            status_suffix(&exhausted(402, t - 10.0), t),
            " exhausted (402) (59m 50s left)"
        );
        assert_eq!(
            status_suffix(&exhausted(429, t - 7200.0), t),
            " rate-limited (429) (ready to retry)"
        );
        let mut e = exhausted(500, t);
        e.last_error_reset_at = Some(t + 90_000.0);
        assert_eq!(status_suffix(&e, t), " exhausted (500) (1d 1h left)");
        let mut q = exhausted(400, t);
        q.last_error_reason = Some("insufficient_quota".into());
        assert_eq!(
            status_suffix(&q, t),
            " rate-limited insufficient_quota (400) (1h 0m left)"
        );
    }

    #[test]
    fn ttl_and_until() {
        let t = 1_000_000.0;
        assert!(!cooling(&exhausted(401, t - 310.0), t));
        assert!(cooling(&exhausted(401, t - 299.0), t));
        assert!(!cooling(&exhausted(402, t - 3700.0), t));
        let mut e = exhausted(429, t - 7200.0);
        e.last_error_reset_at = Some(t + 7.0 * 86_400.0);
        assert!(cooling(&e, t));
    }

    #[test]
    fn message_delays() {
        assert_eq!(
            retry_delay_from_message("Please retry after 30s"),
            Some(30.0)
        );
        assert_eq!(retry_delay_from_message("Retry 3s"), Some(3.0));
        assert_eq!(
            retry_delay_from_message("retry after 900 seconds"),
            Some(900.0)
        );
        assert_eq!(
            retry_delay_from_message(r#"quotaResetDelay: "1500ms""#),
            Some(1.5)
        );
        assert_eq!(
            retry_delay_from_message("Resets in 4hr 5min"),
            Some(14_700.0)
        );
        assert_eq!(retry_delay_from_message("resets in 2hr"), Some(7200.0));
        assert_eq!(retry_delay_from_message("reset in 7min"), Some(420.0));
        assert_eq!(retry_delay_from_message("retry later"), None);
        assert_eq!(retry_delay_from_message("retry 5 sandwiches"), None);
    }

    #[test]
    fn absolute_parsing() {
        assert_eq!(
            parse_absolute(&json!(1_700_000_000_000i64)),
            Some(1_700_000_000.0)
        );
        assert_eq!(parse_absolute(&json!(1_700_000_000)), Some(1_700_000_000.0));
        assert_eq!(parse_absolute(&json!(0)), None);
        assert_eq!(parse_absolute(&json!("1970-01-01T00:00:10Z")), Some(10.0));
        assert_eq!(parse_absolute(&json!("")), None);
        assert_eq!(parse_absolute(&json!(null)), None);
    }

    #[test]
    fn dead_only_on_401_with_reason() {
        let mut e = PoolEntry::new("x", "api_key", "manual");
        mark(
            &mut e,
            Some(401),
            &ErrorContext::reason("token_invalidated"),
            5.0,
        );
        assert_eq!(e.last_status.as_deref(), Some("dead"));
        mark(
            &mut e,
            Some(401),
            &ErrorContext::message("Unauthorized"),
            5.0,
        );
        assert_eq!(e.last_status.as_deref(), Some("exhausted"));
        mark(
            &mut e,
            Some(429),
            &ErrorContext::reason("invalid_grant"),
            5.0,
        );
        assert_eq!(e.last_status.as_deref(), Some("exhausted"));
        mark(
            &mut e,
            Some(402),
            &ErrorContext::message("Quota exceeded. Please retry after 30s"),
            5.0,
        );
        assert_eq!(e.last_error_reset_at, Some(35.0));
    }
}
