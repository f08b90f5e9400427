//! `hermes mcp login` end to end: a fake MCP server (streamable-HTTP JSON-RPC for
//! initialize + tools/list) protected by the real OAuth server (dynamic client registration,
//! RFC 8707 resource indicators), driven through a `$BROWSER` stand-in or a pasted redirect.

#[path = "mcp_support/mod.rs"]
mod common;

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use common::{OAuthServer, TestHome, mode, read_json};
use serde_json::{Value, json};

const OAUTH_CONFIG: &str = r#"{
  "scopes": ["profile", "email", "mcp:read", "mcp:admin"],
  "resources": [{ "resource": "http://127.0.0.1:*/mcp", "scope": "*" }]
}"#;

#[derive(Default)]
struct McpState {
    issuer: String,
    base: String,
    /// Scopes a token needs for tools/list (step-up when missing).
    tools_scope: Vec<String>,
    seen_tokens: Vec<String>,
    tool_lists: usize,
    /// Serve without any authentication (a server that never asks for OAuth).
    open: bool,
}

type Shared = Arc<Mutex<McpState>>;

fn jwt_claims(token: &str) -> Option<Value> {
    let mid = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(mid.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn challenge(st: &McpState, extra: &str) -> String {
    format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"{extra}",
        st.base
    )
}

async fn prm(State(s): State<Shared>) -> Response {
    let st = s.lock().unwrap();
    axum::Json(json!({
        "resource": format!("{}/mcp", st.base),
        "authorization_servers": [st.issuer],
        "scopes_supported": ["mcp:read"],
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

async fn mcp_post(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut st = s.lock().unwrap();
    let resource = format!("{}/mcp", st.base);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let claims = token.as_deref().and_then(jwt_claims);
    let valid = claims
        .as_ref()
        .is_some_and(|c| c["aud"] == json!(resource) && c["exp"].as_f64().is_some_and(|e| e > now));
    if !valid && !st.open {
        let h = challenge(&st, "");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, h)],
            "",
        )
            .into_response();
    }
    if let Some(t) = token {
        st.seen_tokens.push(t);
    }
    let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let method = msg["method"].as_str().unwrap_or_default().to_string();
    let id = msg.get("id").cloned();
    let Some(id) = id else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match method.as_str() {
        "initialize" => json!({
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-mcp", "version": "1.0.0"}
        }),
        "tools/list" => {
            let granted: Vec<String> = claims.clone().unwrap_or_default()["scope"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if let Some(missing) = st.tools_scope.iter().find(|s| !granted.contains(s)) {
                let _ = missing;
                let need = st.tools_scope.join(" ");
                let h = challenge(
                    &st,
                    &format!(", error=\"insufficient_scope\", scope=\"{need}\""),
                );
                return (StatusCode::FORBIDDEN, [(header::WWW_AUTHENTICATE, h)], "")
                    .into_response();
            }
            st.tool_lists += 1;
            json!({"tools": [
                {"name": "echo", "description": "echo", "inputSchema": {"type": "object"}},
                {"name": "add", "description": "add", "inputSchema": {"type": "object"}}
            ]})
        }
        _ => {
            return axum::Json(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
            )
            .into_response();
        }
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

struct FakeMcp {
    state: Shared,
    url: String,
    _rt: tokio::runtime::Runtime,
}

impl FakeMcp {
    fn start(issuer: &str, tools_scope: &[&str]) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state: Shared = Arc::new(Mutex::new(McpState {
            issuer: issuer.to_string(),
            base: base.clone(),
            tools_scope: tools_scope.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }));
        let app = Router::new()
            .route(
                "/mcp",
                get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                    .post(mcp_post)
                    .delete(|| async { StatusCode::METHOD_NOT_ALLOWED }),
            )
            .route("/.well-known/oauth-protected-resource/mcp", get(prm))
            .route("/.well-known/oauth-protected-resource", get(prm))
            .with_state(state.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            state,
            url: format!("{base}/mcp"),
            _rt: rt,
        }
    }
}

fn config_for(url: &str, extra_oauth: &str) -> String {
    format!(
        "# my servers\nmcp_servers:\n  srv:\n    url: {url}\n    auth: oauth\n    oauth:\n      client_name: Hermes Agent\n{extra_oauth}"
    )
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn login_with_browser(home: &TestHome) -> Output {
    home.cmd()
        .args(["mcp", "login", "srv", "--callback-only"])
        .env("BROWSER", home.browser_script())
        .env("DISPLAY", ":99")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn login_happy_path_discovers_registers_and_lists_tools() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    let out = login_with_browser(&home);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("  Starting OAuth flow for 'srv'..."),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ Authenticated — 2 tool(s) available"),
        "{stdout}"
    );
    assert!(
        stderr.contains("MCP OAuth: authorization required."),
        "{stderr}"
    );
    assert!(
        stderr.contains("(Browser opened automatically.)"),
        "{stderr}"
    );
    let auth_line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&oauth.issuer))
        .expect("authorize URL printed");
    assert!(
        auth_line.contains("code_challenge_method=S256"),
        "{auth_line}"
    );
    assert!(auth_line.contains("resource="), "{auth_line}");

    // Files in the reference's layout, 0600 in a 0700 directory.
    let dir = home.hermes_home().join("mcp-tokens");
    assert_eq!(mode(&dir), 0o700);
    for f in ["srv.json", "srv.client.json", "srv.meta.json"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let tok = read_json(&dir.join("srv.json"));
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["access_token"].as_str().unwrap().len() > 20);
    assert!(tok["refresh_token"].is_string());
    assert!(tok["expires_at"].as_f64().unwrap() > 1.0e9);
    assert!(!stdout.contains(tok["access_token"].as_str().unwrap()));
    assert!(!stderr.contains(tok["access_token"].as_str().unwrap()));
    let client = read_json(&dir.join("srv.client.json"));
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert_eq!(client["client_name"], "Hermes Agent");
    let redirect = client["redirect_uris"][0].as_str().unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
    let meta = read_json(&dir.join("srv.meta.json"));
    assert_eq!(meta["issuer"], oauth.issuer.as_str());
    assert!(meta["token_endpoint"].is_string());

    // The server saw one registration and one code exchange bound to the MCP resource.
    let regs = oauth.registrations();
    assert_eq!(regs.len(), 1, "{regs:?}");
    let codes = oauth.token_requests("authorization_code");
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes[0]["status"], 200);
    assert_eq!(codes[0]["resource"], json!(mcp.url));
    assert_eq!(codes[0]["client_id"], client["client_id"]);
    assert_eq!(mcp.state.lock().unwrap().tool_lists, 1);
}

#[test]
fn step_up_on_insufficient_scope() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &["mcp:read", "mcp:admin"]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    let out = login_with_browser(&home);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("insufficient_scope"), "{stderr}");
    assert!(stdout.contains("✓ Authenticated — 2 tool(s) available"));
    let codes = oauth.token_requests("authorization_code");
    assert_eq!(codes.len(), 2, "{codes:?}");
    let tok = read_json(&home.hermes_home().join("mcp-tokens/srv.json"));
    assert!(
        tok["scope"].as_str().unwrap().contains("mcp:admin"),
        "{tok}"
    );
}

#[test]
fn callback_timeout_fails_with_exit_1() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, "      timeout: 1\n"));
    let out = home
        .cmd()
        .args(["mcp", "login", "srv", "--callback-only", "--no-browser"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "  ✗ Authentication failed: OAuth callback timed out — no authorization code received."
        ),
        "{stdout}"
    );
    assert!(!home.hermes_home().join("mcp-tokens/srv.json").exists());
}

#[test]
fn busy_redirect_port_fails_with_exit_1() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let home = TestHome::new();
    home.write_config(&config_for(
        &mcp.url,
        &format!("      redirect_port: {port}\n"),
    ));
    let out = login_with_browser(&home);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("OAuth callback port {port} is already in use")),
        "{stdout}"
    );
    assert!(
        stdout.contains("set a free `oauth.redirect_port`"),
        "{stdout}"
    );
}

#[test]
fn no_terminal_without_flag_exits_2() {
    let home = TestHome::new();
    home.write_config(&config_for("http://127.0.0.1:9/mcp", ""));
    let out = home
        .cmd()
        .args(["mcp", "login", "srv"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("non-interactive environment and no cached tokens found"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

#[test]
fn config_errors_match_the_reference() {
    let home = TestHome::new();
    home.write_config(
        "mcp_servers:\n  local:\n    command: npx\n  hdr:\n    url: http://127.0.0.1:9/mcp\n",
    );
    let out = home.cmd().args(["mcp", "login", "nope"]).output().unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout,
        "  ✗ Server 'nope' not found in config.\n  Available servers: local, hdr\n"
    );
    assert_eq!(out.status.code(), Some(3));
    let out = home.cmd().args(["mcp", "login", "local"]).output().unwrap();
    assert_eq!(
        text(&out).0,
        "  ✗ Server 'local' has no URL — not an OAuth-capable server\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = home.cmd().args(["mcp", "login", "hdr"]).output().unwrap();
    assert_eq!(
        text(&out).0,
        "  ✗ Server 'hdr' is not configured for OAuth (auth=None)\n  Set `auth: oauth` under mcp_servers.hdr in config.yaml, then run `hermes mcp login hdr`.\n"
    );
    let out = home
        .cmd()
        .args(["mcp", "reauth", "--all"])
        .output()
        .unwrap();
    assert_eq!(
        text(&out).0,
        "  No OAuth-based MCP servers found in config.\n"
    );
    assert_eq!(out.status.code(), Some(0));

    // An OAuth server that does not answer: one clear line, exit 1, nothing stored.
    home.write_config("mcp_servers:\n  down:\n    url: http://127.0.0.1:9/mcp\n    auth: oauth\n");
    let out = home
        .cmd()
        .args(["mcp", "login", "down", "--callback-only", "--no-browser"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).0.contains(
            "  ✗ Authentication failed: cannot reach http://127.0.0.1:9/mcp: Connection refused"
        ),
        "{}",
        text(&out).0
    );
    assert!(!text(&out).0.contains("rmcp::"));
    assert!(!home.hermes_home().join("mcp-tokens/down.json").exists());
}

fn hermes_home(home: &TestHome) -> hermes::home::Home {
    hermes::home::Home::at(home.hermes_home())
}

fn server_of(home: &TestHome) -> hermes::mcp::McpServer {
    let cfg = hermes::store::Config::load(&hermes_home(home)).unwrap();
    hermes::mcp::servers(&cfg).remove(0)
}

fn expire_token(home: &TestHome) {
    let p = home.hermes_home().join("mcp-tokens/srv.json");
    let mut tok = read_json(&p);
    tok["expires_at"] = json!(1000.0);
    std::fs::write(&p, serde_json::to_string_pretty(&tok).unwrap()).unwrap();
}

#[test]
fn expired_token_is_refreshed_with_the_resource_indicator() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    assert!(login_with_browser(&home).status.success());
    let before = read_json(&home.hermes_home().join("mcp-tokens/srv.json"));
    expire_token(&home);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = hermes::mcp::ConnectOptions {
        interactive: false,
        open_browser: false,
        connect_timeout: 20.0,
    };
    let report = rt
        .block_on(hermes::mcp::connect(
            &hermes_home(&home),
            &server_of(&home),
            &opts,
            None,
        ))
        .expect("refresh + probe");
    assert_eq!(report.tools, ["echo", "add"]);
    let refreshes = oauth.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0]["status"], 200);
    assert_eq!(refreshes[0]["resource"], json!(mcp.url));
    let after = read_json(&home.hermes_home().join("mcp-tokens/srv.json"));
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert!(after["expires_at"].as_f64().unwrap() > 2.0e9 - 1.0e9);
    // Without a terminal and without tokens: the reference's non-interactive guard.
    std::fs::remove_file(home.hermes_home().join("mcp-tokens/srv.json")).unwrap();
    let err = rt
        .block_on(hermes::mcp::connect(
            &hermes_home(&home),
            &server_of(&home),
            &opts,
            None,
        ))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("non-interactive environment and no cached tokens found")
    );
}

#[test]
fn invalid_client_is_backed_up_and_registration_runs_again() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    assert!(login_with_browser(&home).status.success());
    let dir = home.hermes_home().join("mcp-tokens");
    // The authorization server forgot our client (e.g. it was deleted there).
    let mut client = read_json(&dir.join("srv.client.json"));
    client["client_id"] = json!("forgotten-client");
    std::fs::write(dir.join("srv.client.json"), client.to_string()).unwrap();
    expire_token(&home);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let files = hermes::mcp::TokenFiles::new(&hermes_home(&home), "srv");
    let token = rt
        .block_on(hermes::mcp::flow::stored_access_token(
            &server_of(&home),
            &mcp.url,
            &files,
        ))
        .unwrap();
    assert_eq!(token, None);
    let refreshes = oauth.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0]["error"], "invalid_client", "{refreshes:?}");
    assert_eq!(
        read_json(&dir.join("srv.client.json.bak"))["client_id"],
        "forgotten-client"
    );
    assert!(!dir.join("srv.client.json").exists());
    assert!(!dir.join("srv.meta.json").exists());
    assert!(!dir.join("srv.json").exists());

    // The next sign-in registers a fresh client.
    assert!(login_with_browser(&home).status.success());
    assert_eq!(oauth.registrations().len(), 2);
    assert_ne!(
        read_json(&dir.join("srv.client.json"))["client_id"],
        "forgotten-client"
    );
}

#[test]
fn pasted_redirect_url_completes_the_flow() {
    use rexpect::session::spawn_command;
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    let mut cmd = home.cmd();
    cmd.args(["mcp", "login", "srv", "--no-browser"]);
    let mut p = spawn_command(cmd, Some(30_000)).unwrap();
    let (_, url) = p
        .exp_regex(&format!("{}/auth\\?[^\\s]+", regex_escape(&oauth.issuer)))
        .unwrap();
    p.exp_string("paste the redirect URL").unwrap();
    // Follow the consent redirects but stop before the loopback hop: that is the URL a user
    // copies from the browser's address bar.
    let redirect = follow_until_loopback(&url, &oauth.issuer);
    assert!(redirect.contains("code="), "{redirect}");
    p.send_line(&redirect).unwrap();
    p.exp_string("Got authorization code from paste").unwrap();
    // (rexpect decodes bytes one by one, so match ASCII only.)
    p.exp_string("2 tool(s) available").unwrap();
    p.exp_eof().unwrap();
    assert!(home.hermes_home().join("mcp-tokens/srv.json").exists());
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// GETs `url` and its redirects with curl until a redirect leaves the issuer.
fn follow_until_loopback(url: &str, issuer: &str) -> String {
    let jar = tempfile::NamedTempFile::new().unwrap();
    let mut next = url.to_string();
    for _ in 0..10 {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-o",
                "/dev/null",
                "-w",
                "%{redirect_url}",
                "-b",
            ])
            .arg(jar.path())
            .arg("-c")
            .arg(jar.path())
            .arg(&next)
            .output()
            .unwrap();
        let loc = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!loc.is_empty(), "no redirect from {next}");
        if !loc.starts_with(issuer) {
            return loc;
        }
        next = loc;
    }
    panic!("too many redirects");
}

#[test]
fn open_server_without_token_warns_and_fails() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let mcp = FakeMcp::start(&oauth.issuer, &[]);
    mcp.state.lock().unwrap().open = true;
    let home = TestHome::new();
    home.write_config(&config_for(&mcp.url, ""));
    let out = login_with_browser(&home);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("  ⚠ Server responded, but no OAuth token was obtained — authentication did not complete."), "{stdout}");
    assert!(
        stdout.contains("          client_id: \"<your-oauth-client-id>\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("  Then re-run `hermes mcp login srv`."),
        "{stdout}"
    );
}

#[test]
fn reauth_all_signs_in_every_oauth_server_in_turn() {
    let oauth = OAuthServer::start(OAUTH_CONFIG);
    let a = FakeMcp::start(&oauth.issuer, &[]);
    let b = FakeMcp::start(&oauth.issuer, &[]);
    let home = TestHome::new();
    home.write_config(&format!(
        "mcp_servers:\n  one:\n    url: {}\n    auth: oauth\n  local:\n    command: npx\n  two/x:\n    url: {}\n    auth: oauth\n",
        a.url, b.url
    ));
    let out = home
        .cmd()
        .args(["mcp", "reauth", "--all", "--callback-only"])
        .env("BROWSER", home.browser_script())
        .env("DISPLAY", ":99")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("  Re-authenticating 2 OAuth server(s) one at a time..."),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ── one ──") && stdout.contains("  ── two/x ──"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ Re-authenticated 2/2 server(s)"),
        "{stdout}"
    );
    let dir = home.hermes_home().join("mcp-tokens");
    assert!(dir.join("one.json").exists());
    assert!(dir.join("two_x.json").exists(), "stem of 'two/x'");
}
