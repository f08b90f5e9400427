//! Honcho memory-provider sign-in: where the Honcho config lives, the host block the reference
//! reads (`hosts.<host>.apiKey` + `oauth`), the browser (loopback PKCE) flow and the refresh of
//! a token close to expiry under a cross-process lock on `<config>.lock`.

pub mod config;
pub mod oauth;

pub use config::{HonchoPaths, active_host, active_profile};
pub use oauth::{Credential, Endpoints, FreshToken, resolve_endpoints};

/// Why a Honcho sign-in or refresh failed. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum HonchoError {
    #[error("no OAuth callback received before timeout")]
    Timeout,
    #[error("authorization denied: {0}")]
    Denied(String),
    #[error("OAuth state mismatch — possible CSRF, aborting")]
    StateMismatch,
    #[error("sign-in cancelled")]
    Skipped,
    #[error("cannot listen for the OAuth callback on 127.0.0.1: {0}")]
    Bind(String),
    #[error("token request to {url} failed: {detail}")]
    Http { url: String, detail: String },
    #[error("{0}")]
    BadGrant(&'static str),
    #[error("cannot lock {path}: {detail}")]
    Lock { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
