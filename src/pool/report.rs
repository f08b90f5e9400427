//! What `auth list` shows of a pool: one row per entry, no secrets.

use serde::Serialize;

use super::{CredentialPool, PoolError, cooldown, entry::STATUS_EXHAUSTED};

/// One entry as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// 1-based position.
    pub index: usize,
    pub id: String,
    pub label: String,
    pub auth_type: String,
    /// `source` with a leading `manual:` dropped (`device_code`), as the reference lists it.
    pub source: String,
    /// `null`, `ok`, `exhausted` or `dead`.
    pub status: Option<String>,
    /// The human status text (`rate-limited (429) (59m 0s left)`), empty when healthy.
    #[serde(skip)]
    pub status_text: String,
    pub last_error_code: Option<i64>,
    pub last_error_reason: Option<String>,
    /// Seconds until a cooling entry may be retried (0 when ready).
    pub cooldown_remaining_seconds: Option<u64>,
    pub request_count: i64,
    /// Whether this is the entry the next request would use (the `←` marker).
    pub current: bool,
}

/// Rows of a pool, plus the id `peek()` returns.
pub fn rows(pool: &mut CredentialPool) -> Result<Vec<Row>, PoolError> {
    let now = pool.context().now();
    // Rows are taken before `peek()`, which may prune a long-dead entry: it is listed one last time.
    let mut rows: Vec<Row> = pool
        .entries()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let remaining = (e.status_is(STATUS_EXHAUSTED))
                .then(|| cooldown::until(e))
                .flatten()
                .map(|u| (u - now).ceil().max(0.0) as u64);
            Row {
                index: i + 1,
                id: e.id.clone(),
                label: e.label.clone(),
                auth_type: e.auth_type.clone(),
                source: e
                    .source
                    .strip_prefix("manual:")
                    .unwrap_or(&e.source)
                    .to_string(),
                status: e.last_status.clone(),
                status_text: cooldown::status_suffix(e, now).trim_start().to_string(),
                last_error_code: e.last_error_code,
                last_error_reason: e.last_error_reason.clone(),
                cooldown_remaining_seconds: remaining,
                request_count: e.request_count,
                current: false,
            }
        })
        .collect();
    if let Some(current) = pool.peek()? {
        for r in rows.iter_mut().filter(|r| r.id == current.id) {
            r.current = true;
        }
    }
    Ok(rows)
}
