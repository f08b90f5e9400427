//! OAuth logins and token refresh, one module per flow.

pub mod anthropic;
pub mod gemini;
pub mod loopback;
pub mod pkce;
pub mod pkce_status;
pub mod qwen;
pub mod spotify;
