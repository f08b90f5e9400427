//! `auth status` hooks of the PKCE / import providers.

use crate::pool::{PoolContext, PoolError};
use crate::providers::status::Status;

/// A complete status answer for providers whose login state lives outside the pool
/// (`google-gemini-cli`, `qwen-oauth`); `None` for the others.
pub fn status_for(ctx: &PoolContext, key: &str) -> Result<Option<Status>, PoolError> {
    Ok(match key {
        super::gemini::ID => Some(gemini(ctx)),
        super::qwen::ID => Some(qwen(ctx)),
        _ => None,
    })
}

/// Deletes the login files Hermes owns outside `auth.json` for `target` on logout
/// (`$HERMES_HOME/auth/google_oauth.json`); returns whether one existed.
pub fn logout_files(home: &crate::home::Home, target: &str) -> bool {
    match target {
        super::gemini::ID => std::fs::remove_file(super::gemini::creds_path(home)).is_ok(),
        _ => false,
    }
}

/// Work to do before the stored-state answer: refreshes expiring Anthropic OAuth entries and
/// an expiring Spotify login (single-flight under the store lock). Returns a failure to report
/// beside the (kept) login; a refresh Spotify rejects quarantines the login instead, and the
/// stored state then answers logged out with the reason.
pub fn refresh_before_status(ctx: &PoolContext, key: &str) -> Result<Option<String>, PoolError> {
    match key {
        "anthropic" => super::anthropic::refresh_expiring(ctx),
        super::spotify::ID => Ok(spotify_refresh_expiring(ctx)),
        _ => Ok(None),
    }
}

/// Refreshes a stored Spotify login whose access token is expired or inside the margin.
fn spotify_refresh_expiring(ctx: &PoolContext) -> Option<String> {
    use super::spotify;
    let store = crate::store::AuthStore::load(&ctx.home).ok()?;
    let state = store.provider_state(spotify::ID)?;
    let has_rt = state
        .get("refresh_token")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_rt || !spotify::needs_refresh(state, ctx.now()) {
        return None;
    }
    match spotify::refresh(ctx, false) {
        Ok(_) => None,
        Err(e) if e.relogin_required => None,
        Err(e) => Some(e.message),
    }
}

/// Logged in when the credential file holds a usable (or refreshable) token; an expiring
/// token is refreshed first. A dead grant (`invalid_grant`) is logged out; any other refresh
/// failure keeps the login and is reported.
fn gemini(ctx: &PoolContext) -> Status {
    use super::gemini;
    let key = gemini::ID;
    let Some(mut c) = gemini::read_creds(&ctx.home) else {
        return Status::out(key, None);
    };
    let mut note = None;
    let expiring = c
        .expires_ms
        .is_none_or(|ms| (ms as f64) <= (ctx.now() + gemini::REFRESH_SKEW_SECS) * 1000.0);
    if expiring {
        match gemini::refresh_creds(ctx, None, false) {
            Ok(fresh) => c = fresh,
            Err(e) if e.relogin_required => return Status::out(key, Some(&e.message)),
            Err(e) => note = Some(e.message),
        }
    }
    let mut st = Status::ok(key);
    st.details.push(("auth_type".into(), "oauth_pkce".into()));
    if let Some(e) = &c.email {
        st.details.push(("email".into(), e.clone()));
    }
    if let Some(ms) = c.expires_ms {
        st.details.push((
            "expires_at".into(),
            crate::timefmt::iso_utc_micros(ms as f64 / 1000.0),
        ));
    }
    if let Some(n) = note {
        st.details.push(("refresh_error".into(), n));
    }
    st
}

/// Logged in when the Qwen CLI file is readable (refreshed first when expiring). A refresh
/// the server rejects logs out; an unreachable endpoint keeps the login and says why.
fn qwen(ctx: &PoolContext) -> Status {
    use super::qwen;
    let key = qwen::ID;
    let Some(path) = qwen::creds_path(ctx) else {
        return Status::out(
            key,
            Some("Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first."),
        );
    };
    let m = match qwen::read_creds(&path) {
        Ok(m) => m,
        Err(e) => return Status::out(key, Some(&e.message)),
    };
    if !qwen::creds_expiring(&m, ctx.now()) {
        return Status::ok(key);
    }
    match qwen::refresh_creds(ctx, None, false) {
        Ok(_) => Status::ok(key),
        Err(e) if e.code.as_deref() == Some(qwen::TRANSPORT) => {
            // Transport failure: the stored login stays; report the failed refresh.
            let mut st = Status::ok(key);
            st.details.push(("refresh_error".into(), e.message));
            st
        }
        Err(e) => Status::out(key, Some(&e.message)),
    }
}
