//! OpenAI Codex (local fake of its non-standard device endpoints) and xAI Grok OAuth (the real
//! oidc-provider server in `tests/oauth-server/`), through the real binary.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

const CODEX_CLIENT: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const XAI_CLIENT: &str = "b1a00492-073a-47ea-816f-4c329264a828";

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

fn jwt(claims: Value) -> String {
    format!(
        "{}.{}.sig",
        b64(br#"{"alg":"none"}"#),
        b64(&serde_json::to_vec(&claims).unwrap())
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    user: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(vars: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("hermes");
        let user = tmp.path().join("user");
        std::fs::create_dir_all(&user).unwrap();
        Self {
            _tmp: tmp,
            home,
            user,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
    fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("hermes"));
        c.env_remove("BROWSER")
            .env("HERMES_HOME", &self.home)
            .env("HOME", &self.user)
            .env("HERMES_OAUTH_POLL_SCALE", "0.01")
            // Tests never reach the real network: anything not on loopback goes to a dead proxy.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert_no_tokens(&out.stdout, &out.stderr);
        out
    }
    fn auth(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.home.join("auth.json")).unwrap()).unwrap()
    }
    fn write_auth(&self, v: &Value) {
        std::fs::write(
            self.home.join("auth.json"),
            serde_json::to_vec_pretty(v).unwrap(),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Codex fake
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Req {
    path: String,
    body: String,
    user_agent: Option<String>,
}

#[derive(Default)]
struct Codex {
    pending: u32,
    refresh_mode: VecDeque<&'static str>,
    serial: u32,
    rt: String,
    log: Vec<Req>,
}

type Shared = Arc<Mutex<Codex>>;

fn rec(s: &Shared, path: &str, h: &HeaderMap, body: &str) {
    s.lock().unwrap().log.push(Req {
        path: path.into(),
        body: body.into(),
        user_agent: h
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
}

async fn usercode(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    rec(&s, "usercode", &h, &body);
    Json(json!({"user_code": "CODEX-1234", "device_auth_id": "da-1", "interval": "1"}))
        .into_response()
}

async fn devtoken(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    rec(&s, "devtoken", &h, &body);
    let mut c = s.lock().unwrap();
    if c.pending > 0 {
        c.pending -= 1;
        return (StatusCode::FORBIDDEN, "pending").into_response();
    }
    Json(json!({"authorization_code": "ac-1", "code_verifier": "cv-1"})).into_response()
}

fn issue(c: &mut Codex) -> Value {
    c.serial += 1;
    c.rt = format!("codex-rt-{}", c.serial);
    json!({
        "access_token": jwt(json!({"email": "codex-user@example.test", "exp": now() + 3600, "n": c.serial})),
        "refresh_token": c.rt,
        "id_token": "discarded",
    })
}

async fn codex_token(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    rec(&s, "token", &h, &body);
    let f: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut c = s.lock().unwrap();
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => Json(issue(&mut c)).into_response(),
        Some("refresh_token") => match c.refresh_mode.pop_front() {
            Some("429") => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7")],
                "slow",
            )
                .into_response(),
            Some("401") => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_grant", "error_description": "revoked"})),
            )
                .into_response(),
            _ if f.get("refresh_token") != Some(&c.rt) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "refresh_token_reused"})),
            )
                .into_response(),
            _ => Json(issue(&mut c)).into_response(),
        },
        _ => (StatusCode::BAD_REQUEST, "?").into_response(),
    }
}

struct CodexServer {
    url: String,
    state: Shared,
    _rt: tokio::runtime::Runtime,
}

fn codex_server(pending: u32) -> CodexServer {
    let state: Shared = Arc::new(Mutex::new(Codex {
        pending,
        ..Codex::default()
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/api/accounts/deviceauth/usercode", post(usercode))
        .route("/api/accounts/deviceauth/token", post(devtoken))
        .route("/oauth/token", post(codex_token))
        .with_state(state.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    CodexServer {
        url: format!("http://127.0.0.1:{port}"),
        state,
        _rt: rt,
    }
}

impl CodexServer {
    fn log(&self, path: &str) -> Vec<Req> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
    fn refreshes(&self) -> Vec<HashMap<String, String>> {
        self.log("token")
            .iter()
            .map(|r| {
                url::form_urlencoded::parse(r.body.as_bytes())
                    .into_owned()
                    .collect::<HashMap<_, _>>()
            })
            .filter(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .collect()
    }
}

fn codex_login(s: &CodexServer) -> Env {
    let env = Env::new(&[("HERMES_CODEX_OAUTH_ISSUER", &s.url)]);
    let out = env.run(&["auth", "add", "openai-codex"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    env
}

fn expire_codex_row(env: &Env) {
    let mut a = env.auth();
    a["credential_pool"]["openai-codex"][0]["access_token"] = json!(jwt(
        json!({"email": "codex-user@example.test", "exp": now() + 30})
    ));
    env.write_auth(&a);
}

#[test]
fn codex_device_login_adds_an_independent_entry() {
    let s = codex_server(1);
    let env = Env::new(&[("HERMES_CODEX_OAUTH_ISSUER", &s.url)]);
    let out = env.run(&["auth", "add", "openai-codex"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("{}/codex/device", s.url)),
        "{stdout}"
    );
    assert!(stdout.contains("CODEX-1234"));
    assert!(!stdout.contains('\x1b'), "no colour without a terminal");
    assert!(
        stdout.ends_with("Added openai-codex OAuth credential #1: \"codex-user@example.test\"\n")
    );
    let uc: Value = serde_json::from_str(&s.log("usercode")[0].body).unwrap();
    assert_eq!(uc, json!({"client_id": CODEX_CLIENT}));
    assert_eq!(s.log("devtoken").len(), 2, "403 is pending");
    let ex: HashMap<String, String> =
        url::form_urlencoded::parse(s.log("token")[0].body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        ex["redirect_uri"],
        "https://auth.openai.com/deviceauth/callback"
    );
    assert_eq!(ex["code_verifier"], "cv-1");
    assert_eq!(ex["code"], "ac-1");
    let a = env.auth();
    assert!(a["providers"].get("openai-codex").is_none());
    assert_eq!(a["active_provider"], "openai-codex");
    let row = &a["credential_pool"]["openai-codex"][0];
    assert_eq!(row["source"], "manual:device_code");
    assert_eq!(row["refresh_token"], "codex-rt-1");
    assert_eq!(row["base_url"], "https://chatgpt.com/backend-api/codex");
    assert!(row["last_refresh"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn codex_status_refreshes_an_expiring_token_once() {
    let s = codex_server(0);
    let env = codex_login(&s);
    expire_codex_row(&env);
    let out = env.run(&["auth", "status", "openai-codex"]);
    assert!(
        text(&out.stdout).starts_with("openai-codex: logged in\n"),
        "{}",
        text(&out.stdout)
    );
    let r = s.refreshes();
    assert_eq!(r.len(), 1);
    let mut keys: Vec<&String> = r[0].keys().collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "grant_type", "refresh_token"]);
    assert_eq!(r[0]["refresh_token"], "codex-rt-1");
    let ua = s.log("token").last().unwrap().user_agent.clone();
    assert_eq!(ua.as_deref(), Some("hermes-cli/0.19.0"));
    assert_eq!(
        env.auth()["credential_pool"]["openai-codex"][0]["refresh_token"],
        "codex-rt-2"
    );
    // Now usable: no further request.
    let out = env.run(&["auth", "status", "openai-codex"]);
    assert!(out.status.success());
    assert_eq!(s.refreshes().len(), 1);
}

#[test]
fn codex_429_keeps_the_login_and_401_kills_it() {
    let s = codex_server(0);
    let env = codex_login(&s);
    expire_codex_row(&env);
    s.state.lock().unwrap().refresh_mode = VecDeque::from(["429", "401"]);
    let out = env.run(&["auth", "status", "openai-codex"]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("openai-codex: logged in\n"), "{stdout}");
    assert!(stdout.contains("Credentials are still valid"), "{stdout}");
    assert_eq!(
        env.auth()["credential_pool"]["openai-codex"][0]["refresh_token"],
        "codex-rt-1"
    );
    let out = env.run(&["auth", "status", "openai-codex"]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("openai-codex: logged out ("), "{stdout}");
    assert!(stdout.contains("revoked"), "{stdout}");
    assert_eq!(out.status.code(), Some(0));
    let row = &env.auth()["credential_pool"]["openai-codex"][0];
    assert_eq!(row["last_status"], "dead");
    // Dead: no further refresh request.
    let n = s.refreshes().len();
    env.run(&["auth", "status", "openai-codex"]);
    assert_eq!(s.refreshes().len(), n);
}

// ---------------------------------------------------------------------------------------------
// xAI against the real OAuth server
// ---------------------------------------------------------------------------------------------

struct OidcServer {
    child: Child,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcServer {
    fn start(config: Value) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oauth-server");
        let st = std::process::Command::new("bash")
            .arg(format!("{dir}/install.sh"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "npm install of the OAuth test server failed");
        let mut child = std::process::Command::new("node")
            .arg(format!("{dir}/server.mjs"))
            .env("OAUTH_SERVER_CONFIG", config.to_string())
            .env("PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim_end()
            .strip_prefix("LISTENING ")
            .expect("server failed to start")
            .to_string();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self { child, url, rt }
    }
    fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }
    fn counts(&self) -> Value {
        let url = format!("{}/__test/log?client_id={XAI_CLIENT}", self.url);
        self.rt.block_on(async {
            let v: Value = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["counts"].clone()
        })
    }
}

fn xai_server(auto_approve_after: Option<u32>) -> OidcServer {
    OidcServer::start(json!({
        "clients": [{"client_id": XAI_CLIENT}],
        "device": {"interval": 1, "autoApproveAfterPolls": auto_approve_after},
    }))
}

fn xai_env(s: &OidcServer) -> Env {
    Env::new(&[
        ("HERMES_XAI_OAUTH_ISSUER", &s.url),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ])
}

#[test]
fn xai_device_login_refresh_and_single_flight_against_the_real_server() {
    let s = xai_server(Some(1));
    // Short-lived tokens first, so the stored access token is inside the refresh margin.
    s.post("/__test/settings", json!({"accessTokenTtl": 60}));
    let env = xai_env(&s);
    let out = env.run(&["auth", "add", "xai-oauth", "--no-browser"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Waiting for approval (polling every 1s)..."),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Added xai-oauth OAuth credential #1: \"test-user@example.test\"\n"),
        "{stdout}"
    );
    let a = env.auth();
    let row = &a["credential_pool"]["xai-oauth"][0];
    assert_eq!(row["source"], "manual:device_code");
    assert_eq!(row["base_url"], "https://api.x.ai/v1");
    let rt1 = row["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(a["active_provider"], "xai-oauth");
    assert_eq!(
        s.counts()["urn:ietf:params:oauth:grant-type:device_code"],
        2
    );

    // Eight processes find the token expiring at once: exactly one refresh.
    s.post("/__test/settings", json!({"accessTokenTtl": 7200}));
    let children: Vec<Child> = (0..8)
        .map(|_| {
            env.cmd()
                .args(["auth", "status", "xai-oauth"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            text(&out.stdout).starts_with("xai-oauth: logged in\n"),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    assert_eq!(s.counts()["refresh_token"], 1);
    let a = env.auth();
    let rt2 = a["credential_pool"]["xai-oauth"][0]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(rt1, rt2, "the rotated refresh token is persisted");

    // Inside xAI's proactive margin (50 min left) but usable: a read-only status spends nothing.
    let mut a = env.auth();
    a["credential_pool"]["xai-oauth"][0]["access_token"] = json!(jwt(
        json!({"email": "test-user@example.test", "exp": now() + 3000})
    ));
    env.write_auth(&a);
    let out = env.run(&["auth", "status", "xai-oauth"]);
    assert!(text(&out.stdout).starts_with("xai-oauth: logged in\n"));
    assert_eq!(s.counts()["refresh_token"], 1);

    // Replaying the consumed refresh token: invalid_grant, the entry is dead, no more requests.
    let mut a = env.auth();
    a["credential_pool"]["xai-oauth"][0]["refresh_token"] = json!(rt1);
    a["credential_pool"]["xai-oauth"][0]["access_token"] = json!(jwt(
        json!({"email": "test-user@example.test", "exp": now() + 30})
    ));
    env.write_auth(&a);
    let out = env.run(&["auth", "status", "xai-oauth"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("xai-oauth: logged out (xAI token refresh failed"),
        "{stdout}"
    );
    assert!(stdout.contains("invalid_grant"), "{stdout}");
    assert_eq!(
        env.auth()["credential_pool"]["xai-oauth"][0]["last_status"],
        "dead"
    );
    let n = s.counts()["refresh_token"].clone();
    env.run(&["auth", "status", "xai-oauth"]);
    assert_eq!(s.counts()["refresh_token"], n);
}

#[test]
fn xai_slow_down_and_denial_against_the_real_server() {
    let s = xai_server(Some(2));
    s.post("/__test/device/slow_down", json!({"count": 1}));
    let env = xai_env(&s);
    let out = env.run(&["auth", "add", "xai-oauth", "--no-browser"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Server asked to slow down; polling every 6s."),
        "{stdout}"
    );

    // Denial: read the running login's output, and deny once the code is shown.
    let s = xai_server(None);
    let env = xai_env(&s);
    let mut child = env
        .cmd()
        .args(["auth", "add", "xai-oauth", "--no-browser"])
        .env("HERMES_OAUTH_POLL_SCALE", "0.2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let code_line = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("  2. If prompted, enter code: "))
        .expect("the user code is printed while the login runs");
    let user_code = code_line.rsplit(' ').next().unwrap().to_string();
    let denied = s.post("/__test/device/deny", json!({"user_code": user_code}));
    assert_eq!(denied["denied"], true, "{denied}");
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");
    assert!(
        !env.home.join("auth.json").exists()
            || env.auth()["credential_pool"].get("xai-oauth").is_none()
    );
}

#[test]
fn xai_discovery_outside_xai_is_rejected() {
    // A discovery document pointing at a non-x.ai https host (served from loopback).
    let state: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(|| async {
            Json(json!({
                "authorization_endpoint": "https://auth.x.ai/authorize",
                "token_endpoint": "https://evil.example.com/token",
            }))
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    *state.lock().unwrap() = url.clone();
    let env = Env::new(&[("HERMES_XAI_OAUTH_ISSUER", &url)]);
    let out = env.run(&["auth", "add", "xai-oauth", "--no-browser"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("evil.example.com"), "{stderr}");
    assert!(stderr.contains("not on the xAI origin"), "{stderr}");
}

#[test]
fn ctrl_c_during_a_device_login_says_login_cancelled() {
    use std::io::BufRead;
    let s = codex_server(1_000_000);
    let env = Env::new(&[("HERMES_CODEX_OAUTH_ISSUER", &s.url)]);
    let mut child = env
        .cmd()
        .args(["auth", "add", "openai-codex"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("CODEX-1234") {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let code = child.wait().unwrap().code();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(code, Some(130), "{seen}{rest}");
    assert!(rest.ends_with("\nLogin cancelled.\n"), "{rest:?}");
    assert!(
        !env.home.join("auth.json").exists()
            || env.auth()["credential_pool"].get("openai-codex").is_none()
    );
}

/// No token of the fakes (nor any JWT) ever reaches the output.
fn assert_no_tokens(stdout: &[u8], stderr: &[u8]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    );
    for pat in ["-rt-", "-at-", "eyJ"] {
        assert!(!text.contains(pat), "token-like {pat:?} in output:\n{text}");
    }
}

#[test]
fn codex_eight_processes_refresh_exactly_once() {
    let s = codex_server(0);
    let env = codex_login(&s);
    expire_codex_row(&env);
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.cmd()
                .args(["auth", "status", "openai-codex"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            text(&out.stdout).starts_with("openai-codex: logged in\n"),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_no_tokens(&out.stdout, &out.stderr);
    }
    assert_eq!(s.refreshes().len(), 1);
    assert_eq!(
        env.auth()["credential_pool"]["openai-codex"][0]["refresh_token"],
        "codex-rt-2"
    );
}
