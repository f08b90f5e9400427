//! An OAuth login started from the `hermes model` picker (it runs `hermes auth add <p> --type
//! oauth`'s flow), against the real local OAuth server, on a pseudo-terminal.

#[path = "model_support/mod.rs"]
mod support;

#[path = "mcp_support/mod.rs"]
mod mcp_support;

use std::process::{Command, Stdio};

use support::pty::{ENTER, finish, send, spawn};
use support::{Env, exp};

/// xAI's public OAuth client id (the server registers it as a device-flow client).
const XAI_CLIENT: &str = "b1a00492-073a-47ea-816f-4c329264a828";

fn oauth_server() -> mcp_support::OAuthServer {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oauth-server");
    let st = Command::new("bash")
        .arg(format!("{dir}/install.sh"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "npm install of the OAuth test server failed");
    mcp_support::OAuthServer::start(
        &serde_json::json!({
            "clients": [{"client_id": XAI_CLIENT}],
            "device": {"interval": 1, "autoApproveAfterPolls": 1},
        })
        .to_string(),
    )
}

/// The picker's command with the xAI issuer pointed at `issuer`; anything off loopback goes to a
/// dead proxy, so the model list falls back to the built-in one without touching the network.
fn model_cmd(e: &Env, issuer: &str) -> Command {
    let mut c = e.cmd();
    c.arg("model")
        .env("HERMES_XAI_OAUTH_ISSUER", issuer)
        .env("HERMES_OAUTH_POLL_SCALE", "0.01")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost");
    c
}

fn pick_xai_oauth(p: &mut rexpect::session::PtySession) {
    exp(p, "Active provider:  none");
    send(p, "grok");
    exp(p, "Search: grok");
    send(p, ENTER);
    exp(p, "Select xAI Grok provider:");
    exp(p, "  xAI Grok OAuth (SuperGrok / Premium+)");
    send(p, "\x1b[B");
    send(p, ENTER);
    exp(
        p,
        "Not logged into xAI Grok OAuth (SuperGrok / Premium+). Starting login...",
    );
}

#[test]
fn xai_oauth_login_from_the_picker_fills_the_pool_and_sets_the_model() {
    let server = oauth_server();
    let e = Env::new();
    e.write(
        "config.yaml",
        "# mine\nmodel:\n  default: old-model  # keep?\n",
    );
    // A $BROWSER that records what it was asked to open.
    let script = e.user.path().join("browser.sh");
    let opened = e.user.path().join("opened.txt");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", opened.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = model_cmd(&e, &server.issuer);
    c.env("BROWSER", &script);
    let mut p = spawn(c);
    pick_xai_oauth(&mut p);
    exp(&mut p, "Waiting for approval (polling every 1s)...");
    exp(
        &mut p,
        "Added xai-oauth OAuth credential #1: \"test-user@example.test\"",
    );
    exp(&mut p, "Select default model:");
    send(&mut p, "4.3");
    exp(&mut p, "Search: 4.3");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Default model set to: grok-4.3 (via xAI Grok OAuth (SuperGrok / Premium+))",
    );
    assert_eq!(finish(p).0, 0);

    let text = e.read("config.yaml");
    assert!(text.starts_with("# mine\nmodel:\n"), "{text}");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg["model"]["provider"], "xai-oauth");
    assert_eq!(cfg["model"]["default"], "grok-4.3");
    assert_eq!(cfg["model"]["base_url"], "https://api.x.ai/v1");
    let auth: serde_json::Value = serde_json::from_str(&e.read("auth.json")).unwrap();
    assert_eq!(auth["active_provider"], "xai-oauth");
    let pool = auth["credential_pool"]["xai-oauth"].as_array().unwrap();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0]["source"], "manual:device_code");
    assert_eq!(pool[0]["label"], "test-user@example.test");
    assert!(
        pool[0]["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    // The device grant really went through the server.
    assert!(
        !server
            .token_requests("urn:ietf:params:oauth:grant-type:device_code")
            .is_empty()
    );

    let first = std::fs::read_to_string(&opened).unwrap();
    assert!(first.contains("/device?user_code="), "{first}");

    // A second run offers the stored login instead of starting a new one; the login flags of
    // `auth add` reach a new login started from there (`--no-browser`: nothing is opened).
    let mut c = model_cmd(&e, &server.issuer);
    c.arg("--no-browser").env("BROWSER", &script);
    let mut p = spawn(c);
    send(&mut p, "grok");
    exp(&mut p, "Search: grok");
    send(&mut p, ENTER);
    exp(&mut p, "Select xAI Grok provider:");
    // The active provider holds the cursor.
    exp(&mut p, "❯ xAI Grok OAuth (SuperGrok / Premium+)");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "xAI Grok OAuth (SuperGrok / Premium+) credentials: ✓",
    );
    exp(&mut p, "❯ Use existing credentials");
    send(&mut p, "\x1b[B");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Starting a fresh xAI Grok OAuth (SuperGrok / Premium+) login...",
    );
    exp(&mut p, "Added xai-oauth OAuth credential");
    exp(&mut p, "Select default model:");
    send(&mut p, ENTER);
    exp(&mut p, "Default model set to: grok-");
    assert_eq!(finish(p).0, 0);
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), first);
}

#[test]
fn a_failed_login_from_the_picker_changes_nothing() {
    let e = Env::new();
    e.write(
        "config.yaml",
        "model:\n  default: old-model\n  provider: deepseek\n",
    );
    let before = e.snapshot();
    // Nothing listens on port 9: the device-code request fails.
    let mut p = spawn(model_cmd(&e, "http://127.0.0.1:9"));
    exp(&mut p, "Active provider:  DeepSeek");
    send(&mut p, "grok");
    exp(&mut p, "Search: grok");
    send(&mut p, ENTER);
    exp(&mut p, "Select xAI Grok provider:");
    send(&mut p, "\x1b[B");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Not logged into xAI Grok OAuth (SuperGrok / Premium+). Starting login...",
    );
    exp(&mut p, "Login cancelled or failed.");
    assert_eq!(finish(p).0, 0);
    let after: Vec<_> = e
        .snapshot()
        .into_iter()
        .filter(|(name, _)| name == "config.yaml" || name == "auth.json" || name == ".env")
        .collect();
    assert_eq!(after, before);
}
