//! RFC 8628 device-authorization polling.
//!
//! Pacing: poll at the server's `interval` (5 s when it sends none), `slow_down` adds 5 s,
//! `authorization_pending` keeps polling, `expired_token` / `access_denied` stop with a clear
//! error, and the device code's `expires_in` is the deadline. Every wait is multiplied by the
//! test-only `HERMES_OAUTH_POLL_SCALE` so tests need not wait whole seconds.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::http::{Reply, post_form};
use super::{ErrorKind, OAuthError, Spinner, scaled};

/// Default interval when the server sends none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `slow_down` adds (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Upper bound for the interval, however often the server says `slow_down`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The RFC 8628 device-authorization fields absent (or null) from `dc`, in order.
pub fn missing_fields(dc: &Map<String, Value>) -> Vec<&'static str> {
    ["device_code", "user_code", "verification_uri", "expires_in"]
        .into_iter()
        .filter(|k| dc.get(*k).is_none_or(Value::is_null))
        .collect()
}

/// The server's `interval` (seconds; number or string) or the 5 s default; at least 1 s.
pub fn interval_from(m: &Map<String, Value>) -> Duration {
    super::jsecs(m, "interval")
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or(DEFAULT_INTERVAL, |v| Duration::from_secs_f64(v.max(1.0)))
}

/// One device-code poll loop.
pub struct Poll<'a> {
    /// Display name (`Nous Portal`) for messages.
    pub provider: &'a str,
    /// The command that starts over (`hermes auth add nous`).
    pub restart: &'a str,
    pub token_url: &'a str,
    /// Form of each poll (grant_type, client_id, device_code, …).
    pub form: Vec<(&'a str, String)>,
    pub headers: Vec<(&'a str, String)>,
    pub interval: Duration,
    /// From the device-code response's `expires_in`.
    pub expires_in: Duration,
    /// Poll once right away (Nous, xAI) instead of waiting an interval first.
    pub poll_immediately: bool,
}

/// What one poll answered.
#[derive(Debug)]
enum Step {
    Done(Map<String, Value>),
    Pending,
    SlowDown,
}

fn classify(p: &Poll<'_>, reply: &Reply) -> Result<Step, OAuthError> {
    // GitHub answers errors with HTTP 200, so look for `error` before the status.
    if let Some((code, desc)) = reply.oauth_error() {
        return match code.as_str() {
            "authorization_pending" => Ok(Step::Pending),
            "slow_down" => Ok(Step::SlowDown),
            "expired_token" => Err(OAuthError::new(
                p.provider,
                ErrorKind::Denied,
                format!(
                    "{} login failed: the device code expired before it was approved (expired_token).",
                    p.provider
                ),
            )
            .code(code)
            .next(p.restart)),
            "access_denied" => Err(OAuthError::new(
                p.provider,
                ErrorKind::Denied,
                format!(
                    "{} login failed: access_denied: {}",
                    p.provider,
                    desc.as_deref().unwrap_or("the request was denied")
                ),
            )
            .code(code)
            .next(p.restart)),
            _ => Err(OAuthError::protocol(
                p.provider,
                format!(
                    "{} login failed: {code}: {}",
                    p.provider,
                    desc.as_deref().unwrap_or("Unknown authentication error")
                ),
            )
            .code(code)
            .next(p.restart)),
        };
    }
    if reply.ok() {
        return match reply.json() {
            Some(m) if super::jstr(&m, "access_token").is_some() => Ok(Step::Done(m)),
            Some(_) => Err(OAuthError::protocol(
                p.provider,
                format!(
                    "{} login failed: the token response did not include an access_token.",
                    p.provider
                ),
            )
            .next(p.restart)),
            None => Err(OAuthError::protocol(
                p.provider,
                format!(
                    "{} login failed: the token endpoint returned HTTP {} without a JSON body.",
                    p.provider, reply.status
                ),
            )
            .next(p.restart)),
        };
    }
    Err(OAuthError::protocol(
        p.provider,
        format!(
            "{} login failed: the token endpoint returned HTTP {} ({}).",
            p.provider,
            reply.status,
            reply.excerpt()
        ),
    )
    .next(p.restart))
}

/// Polls until the user approves (returns the token response) or the flow ends in an error.
/// `on_slow_down` is told each new interval.
pub async fn poll(
    client: &reqwest::Client,
    p: &Poll<'_>,
    on_slow_down: &(dyn Fn(Duration) + Sync),
) -> Result<Map<String, Value>, OAuthError> {
    let _spinner = Spinner::start("Waiting for approval…");
    let deadline = Instant::now() + scaled(p.expires_in.max(Duration::from_secs(1)));
    let mut interval = p.interval;
    let mut first = true;
    loop {
        if !(first && p.poll_immediately) {
            let wait = scaled(interval);
            if Instant::now() + wait > deadline {
                return Err(OAuthError::new(
                    p.provider,
                    ErrorKind::Denied,
                    format!(
                        "{} login failed: timed out waiting for device authorization.",
                        p.provider
                    ),
                )
                .next(p.restart));
            }
            tokio::time::sleep(wait).await;
        }
        first = false;
        let form: Vec<(&str, &str)> = p.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let headers: Vec<(&str, &str)> = p.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = post_form(
            p.provider,
            "polling the token endpoint",
            client,
            p.token_url,
            &form,
            &headers,
        )
        .await
        .map_err(|e| OAuthError {
            message: format!("{} login failed: {}", p.provider, e.message),
            next: Some(p.restart.to_string()),
            ..e
        })?;
        match classify(p, &reply)? {
            Step::Done(m) => return Ok(m),
            Step::Pending => {}
            Step::SlowDown => {
                interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
                on_slow_down(interval);
            }
        }
        if Instant::now() >= deadline {
            return Err(OAuthError::new(
                p.provider,
                ErrorKind::Denied,
                format!(
                    "{} login failed: timed out waiting for device authorization.",
                    p.provider
                ),
            )
            .next(p.restart));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_fields_in_order() {
        let m = json!({"user_code": "U", "expires_in": null})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            missing_fields(&m),
            ["device_code", "verification_uri", "expires_in"]
        );
    }

    #[test]
    fn interval_defaults_to_five_seconds() {
        let m = json!({"interval": 2}).as_object().unwrap().clone();
        assert_eq!(interval_from(&m), Duration::from_secs(2));
        let m = json!({"interval": "3"}).as_object().unwrap().clone();
        assert_eq!(interval_from(&m), Duration::from_secs(3));
        assert_eq!(interval_from(&Map::new()), DEFAULT_INTERVAL);
        let m = json!({"interval": 0}).as_object().unwrap().clone();
        assert_eq!(interval_from(&m), DEFAULT_INTERVAL);
    }

    fn poll_of(url: &str) -> Poll<'_> {
        Poll {
            provider: "Test",
            restart: "hermes auth add test",
            token_url: url,
            form: vec![("grant_type", "x".into())],
            headers: vec![],
            interval: Duration::from_secs(1),
            expires_in: Duration::from_secs(60),
            poll_immediately: true,
        }
    }

    #[test]
    fn errors_are_classified() {
        let p = poll_of("http://x");
        let r = |status, body: &str| Reply {
            status,
            body: body.into(),
            retry_after: None,
        };
        assert!(matches!(
            classify(&p, &r(400, r#"{"error":"authorization_pending"}"#)),
            Ok(Step::Pending)
        ));
        assert!(matches!(
            classify(&p, &r(200, r#"{"error":"slow_down"}"#)),
            Ok(Step::SlowDown)
        ));
        let e = classify(
            &p,
            &r(
                400,
                r#"{"error":"access_denied","error_description":"User denied"}"#,
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("access_denied: User denied"));
        assert_eq!(e.kind, ErrorKind::Denied);
        let e = classify(&p, &r(400, r#"{"error":"expired_token"}"#)).unwrap_err();
        assert!(e.message.contains("expired"));
        let e = classify(&p, &r(502, "bad gateway")).unwrap_err();
        assert!(e.message.contains("HTTP 502"));
        assert!(matches!(
            classify(&p, &r(200, r#"{"access_token":"a"}"#)),
            Ok(Step::Done(_))
        ));
    }
}
