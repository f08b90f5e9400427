//! Device-code logins and token lifecycles against local fakes, through the real binary.
//!
//! The fake Nous portal (axum, 127.0.0.1:0) implements the device grant, refresh with rotating
//! single-use refresh tokens (a replay answers `invalid_grant` "reuse detected"), and optionally
//! the agent-key mint endpoint. Every request is logged so tests can count them.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fake portal
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Req {
    path: String,
    form: HashMap<String, String>,
    refresh_header: Option<String>,
    auth: Option<String>,
    at: Instant,
}

#[derive(Default)]
struct Portal {
    /// Answers to device-code polls, in order: pending, slow_down, denied, expired, ok.
    script: VecDeque<&'static str>,
    interval: Option<u64>,
    agent_keys: bool,
    /// Issue opaque access tokens (agent-key portals) instead of invoke JWTs.
    opaque_access: bool,
    access_ttl: i64,
    rt_serial: u32,
    current_rt: String,
    current_at: String,
    mint_serial: u32,
    inference_url: Option<String>,
    log: Vec<Req>,
}

type Shared = Arc<Mutex<Portal>>;

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

fn issue(p: &mut Portal) -> Value {
    p.rt_serial += 1;
    p.current_rt = format!("nous-rt-{}", p.rt_serial);
    p.current_at = if p.opaque_access {
        format!("nous-at-opaque-{}", p.rt_serial)
    } else {
        jwt(json!({
            "email": "fixture-user@example.test",
            "scope": "inference:invoke",
            "exp": now() + p.access_ttl,
            "jti": p.rt_serial,
        }))
    };
    let mut body = json!({
        "access_token": p.current_at,
        "refresh_token": p.current_rt,
        "token_type": "Bearer",
        "scope": if p.opaque_access { "inference:mint_agent_key" } else { "inference:invoke" },
        "expires_in": p.access_ttl,
    });
    if let Some(u) = &p.inference_url {
        body["inference_base_url"] = json!(u);
    }
    body
}

fn parse_form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn log(p: &mut Portal, path: &str, form: &HashMap<String, String>, h: &HeaderMap) {
    p.log.push(Req {
        path: path.into(),
        form: form.clone(),
        refresh_header: h
            .get("x-nous-refresh-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        auth: h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        at: Instant::now(),
    });
}

async fn device_code(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    let f = parse_form(&body);
    let mut p = s.lock().unwrap();
    log(&mut p, "/api/oauth/device/code", &f, &h);
    let mut body = json!({
        "device_code": "nous-dc-1",
        "user_code": "FAKE-0001",
        "verification_uri": "http://127.0.0.1/device",
        "verification_uri_complete": "http://127.0.0.1/device?user_code=FAKE-0001",
        "expires_in": 600,
    });
    if let Some(i) = p.interval {
        body["interval"] = json!(i);
    }
    Json(body).into_response()
}

fn oauth_err(status: StatusCode, code: &str, desc: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": desc})),
    )
        .into_response()
}

async fn token(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    let f = parse_form(&body);
    let mut p = s.lock().unwrap();
    log(&mut p, "/api/oauth/token", &f, &h);
    match f.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            match p.script.pop_front().unwrap_or("ok") {
                "pending" => oauth_err(StatusCode::BAD_REQUEST, "authorization_pending", "wait"),
                "slow_down" => oauth_err(StatusCode::BAD_REQUEST, "slow_down", "slow"),
                "denied" => oauth_err(StatusCode::BAD_REQUEST, "access_denied", "User denied"),
                "expired" => oauth_err(StatusCode::BAD_REQUEST, "expired_token", "expired"),
                _ => Json(issue(&mut p)).into_response(),
            }
        }
        Some("refresh_token") => {
            let presented = h
                .get("x-nous-refresh-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if presented != p.current_rt {
                return oauth_err(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Refresh token reuse detected; session revoked",
                );
            }
            Json(issue(&mut p)).into_response()
        }
        _ => oauth_err(StatusCode::BAD_REQUEST, "unsupported_grant_type", "?"),
    }
}

async fn agent_key(State(s): State<Shared>, h: HeaderMap, body: String) -> Response {
    let mut p = s.lock().unwrap();
    let mut form = HashMap::new();
    form.insert("body".to_string(), body);
    log(&mut p, "/api/oauth/agent-key", &form, &h);
    if !p.agent_keys {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let expected = format!("Bearer {}", p.current_at);
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return oauth_err(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "bad access token",
        );
    }
    p.mint_serial += 1;
    Json(json!({
        "api_key": format!("nous-agent-key-{}", p.mint_serial),
        "key_id": format!("key-{}", p.mint_serial),
        "expires_in": 1800,
        "reused": false,
    }))
    .into_response()
}

struct Server {
    url: String,
    state: Shared,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(p: Portal) -> Self {
        let state: Shared = Arc::new(Mutex::new(p));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/api/oauth/device/code", post(device_code))
            .route("/api/oauth/token", post(token))
            .route("/api/oauth/agent-key", post(agent_key))
            .with_state(state.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://127.0.0.1:{}", addr.port()),
            state,
            _rt: rt,
        }
    }
    fn log(&self) -> Vec<Req> {
        self.state.lock().unwrap().log.clone()
    }
    fn count(&self, path: &str, grant: Option<&str>) -> usize {
        self.log()
            .iter()
            .filter(|r| {
                r.path == path
                    && grant.is_none_or(|g| r.form.get("grant_type").map(String::as_str) == Some(g))
            })
            .count()
    }
}

fn portal(script: &[&'static str]) -> Portal {
    Portal {
        script: script.iter().copied().collect(),
        interval: Some(1),
        access_ttl: 3600,
        ..Portal::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    user: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("hermes");
        let user = tmp.path().join("user");
        std::fs::create_dir_all(&user).unwrap();
        Self {
            _tmp: tmp,
            home,
            user,
        }
    }
    fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("hermes"));
        for v in [
            "HERMES_PORTAL_BASE_URL",
            "NOUS_PORTAL_BASE_URL",
            "NOUS_INFERENCE_BASE_URL",
            "HERMES_SHARED_AUTH_DIR",
            "BROWSER",
            "HERMES_CA_BUNDLE",
        ] {
            c.env_remove(v);
        }
        c.env("HERMES_HOME", &self.home)
            .env("HOME", &self.user)
            .env("HERMES_OAUTH_POLL_SCALE", "0.01")
            // Tests never reach the real network: anything not on loopback goes to a dead proxy.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .stdin(std::process::Stdio::null());
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
    fn shared(&self) -> PathBuf {
        self.home.join("shared/nous_auth.json")
    }
    fn login(&self, s: &Server) -> Output {
        self.run(&[
            "auth",
            "add",
            "nous",
            "--portal-url",
            &s.url,
            "--no-browser",
        ])
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Makes the stored access token expire within the refresh margin.
fn expire_access(env: &Env) {
    let mut a = env.auth();
    let soon = jwt(
        json!({"email": "fixture-user@example.test", "scope": "inference:invoke", "exp": now() + 60}),
    );
    a["providers"]["nous"]["access_token"] = json!(soon);
    a["providers"]["nous"]["agent_key"] = json!(soon);
    env.write_auth(&a);
}

// ---------------------------------------------------------------------------------------------
// Nous device flow
// ---------------------------------------------------------------------------------------------

#[test]
fn nous_device_flow_pending_then_success() {
    let s = Server::start(portal(&["pending", "ok"]));
    let env = Env::new();
    let out = env.login(&s);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for line in [
        "Starting Hermes login via Nous Portal...",
        &format!("Portal: {}", s.url),
        "  1. Open: http://127.0.0.1/device?user_code=FAKE-0001",
        "  2. If prompted, enter code: FAKE-0001",
        "Waiting for approval (polling every 1s)...",
        "Saved nous OAuth device-code credentials: \"fixture-user@example.test\"",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    let log = s.log();
    assert_eq!(log[0].path, "/api/oauth/device/code");
    assert_eq!(log[0].form["client_id"], "hermes-cli");
    assert_eq!(log[0].form["scope"], "inference:invoke");
    let polls: Vec<&Req> = log
        .iter()
        .filter(|r| {
            r.form
                .get("grant_type")
                .is_some_and(|g| g.ends_with("device_code"))
        })
        .collect();
    assert_eq!(polls.len(), 2);
    assert_eq!(polls[0].form["device_code"], "nous-dc-1");
    assert_eq!(polls[0].form["client_id"], "hermes-cli");

    let a = env.auth();
    let n = &a["providers"]["nous"];
    assert_eq!(a["active_provider"], "nous");
    assert_eq!(n["agent_key"], n["access_token"]);
    assert_eq!(n["agent_key_id"], Value::Null);
    assert_eq!(n["agent_key_reused"], false);
    assert_eq!(n["client_id"], "hermes-cli");
    assert_eq!(n["tls"], json!({"insecure": false, "ca_bundle": null}));
    assert_eq!(n["refresh_token"], "nous-rt-1");
    // The portal has no agent-key endpoint: the 0.19 model is selected and remembered.
    assert_eq!(n["credential_model"], "invoke_jwt");
    let pool = a["credential_pool"]["nous"].as_array().unwrap();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0]["source"], "device_code");
    assert_eq!(pool[0]["label"], "fixture-user@example.test");
    assert_eq!(mode(&env.home.join("auth.json")), 0o600);
    let shared: Value = serde_json::from_slice(&std::fs::read(env.shared()).unwrap()).unwrap();
    assert_eq!(shared["_schema"], 1);
    assert_eq!(shared["refresh_token"], "nous-rt-1");
    assert!(shared.get("agent_key").is_none());
    assert_eq!(mode(&env.shared()), 0o600);

    // A usable token: status makes no request and leaves auth.json byte-identical.
    let before_n = s.log().len();
    let out = env.run(&["auth", "status", "nous"]);
    assert!(text(&out.stdout).starts_with("nous: logged in\n"));
    let bytes = std::fs::read(env.home.join("auth.json")).unwrap();
    let out = env.run(&["auth", "status", "nous"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(env.home.join("auth.json")).unwrap(), bytes);
    assert_eq!(
        s.log().len(),
        before_n,
        "status of a usable token went to the network"
    );
}

#[test]
fn nous_slow_down_adds_five_seconds() {
    let s = Server::start(portal(&["slow_down", "ok"]));
    let env = Env::new();
    let out = env
        .cmd()
        .env("HERMES_OAUTH_POLL_SCALE", "0.05")
        .args([
            "auth",
            "add",
            "nous",
            "--portal-url",
            &s.url,
            "--no-browser",
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("polling every 6s"), "{stdout}");
    let polls: Vec<Instant> = s
        .log()
        .iter()
        .filter(|r| r.path == "/api/oauth/token")
        .map(|r| r.at)
        .collect();
    assert_eq!(polls.len(), 2);
    // (1 s + 5 s) × 0.05: the gap can only be longer, never shorter.
    assert!(polls[1] - polls[0] >= std::time::Duration::from_millis(300));
}

#[test]
fn nous_default_interval_is_five_seconds_when_absent() {
    let mut p = portal(&["pending", "ok"]);
    p.interval = None;
    let s = Server::start(p);
    let env = Env::new();
    let out = env.login(&s);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Waiting for approval (polling every 5s)..."));
}

#[test]
fn nous_denied_and_expired_codes_stop_cleanly() {
    for (answer, needle) in [
        ("denied", "access_denied: User denied"),
        ("expired", "device code expired"),
    ] {
        let s = Server::start(portal(&["pending", answer]));
        let env = Env::new();
        let out = env.login(&s);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(stderr.contains("hermes auth add nous"), "{stderr}");
        assert!(!stderr.contains("panicked"));
        assert_eq!(
            stderr.lines().filter(|l| !l.starts_with("hint:")).count(),
            1,
            "{stderr}"
        );
        assert!(
            !env.home.join("auth.json").exists(),
            "nothing may be written"
        );
    }
}

#[test]
fn missing_ca_bundle_is_one_clear_line_and_no_request() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    let out = env.run(&[
        "auth",
        "add",
        "nous",
        "--portal-url",
        &s.url,
        "--no-browser",
        "--ca-bundle",
        "/nonexistent/ca.pem",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
    assert!(s.log().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

#[test]
fn nous_refresh_rotation_is_persisted_everywhere() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    expire_access(&env);
    let out = env.run(&["auth", "status", "nous"]);
    assert!(
        text(&out.stdout).starts_with("nous: logged in\n"),
        "{}",
        text(&out.stdout)
    );
    let refreshes: Vec<Req> = s
        .log()
        .into_iter()
        .filter(|r| r.form.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].refresh_header.as_deref(), Some("nous-rt-1"));
    let mut keys: Vec<&String> = refreshes[0].form.keys().collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "grant_type"]);
    let a = env.auth();
    assert_eq!(a["providers"]["nous"]["refresh_token"], "nous-rt-2");
    assert_eq!(
        a["credential_pool"]["nous"][0]["refresh_token"],
        "nous-rt-2"
    );
    let shared: Value = serde_json::from_slice(&std::fs::read(env.shared()).unwrap()).unwrap();
    assert_eq!(shared["refresh_token"], "nous-rt-2");
}

#[test]
fn eight_processes_refresh_exactly_once() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    expire_access(&env);
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.cmd()
                .args(["auth", "status", "nous"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(
            text(&out.stdout).starts_with("nous: logged in\n"),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    assert_eq!(s.count("/api/oauth/token", Some("refresh_token")), 1);
    let a = env.auth();
    let p = s.state.lock().unwrap();
    assert_eq!(a["providers"]["nous"]["refresh_token"], json!(p.current_rt));
    assert_eq!(a["providers"]["nous"]["access_token"], json!(p.current_at));
    assert_eq!(
        a["credential_pool"]["nous"][0]["access_token"],
        json!(p.current_at)
    );
}

#[test]
fn replayed_refresh_token_quarantines_the_login() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    expire_access(&env);
    // Another client spent the refresh token behind our back.
    s.state.lock().unwrap().current_rt = "nous-rt-elsewhere".into();
    let out = env.run(&["auth", "status", "nous"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.starts_with("nous: logged out (Nous Portal detected refresh-token reuse"),
        "{stdout}"
    );
    assert!(stdout.contains("Re-authenticate with: hermes auth add nous"));
    let a = env.auth();
    let n = a["providers"]["nous"].as_object().unwrap();
    for k in ["access_token", "refresh_token", "agent_key", "expires_at"] {
        assert!(!n.contains_key(k), "{k} kept");
    }
    assert_eq!(n["portal_base_url"], json!(s.url));
    assert_eq!(n["client_id"], "hermes-cli");
    assert_eq!(n["last_auth_error"]["code"], "invalid_grant");
    assert_eq!(n["last_auth_error"]["relogin_required"], true);
    assert_eq!(
        n["last_auth_error"]["reason"],
        "runtime_access_refresh_failure"
    );
    assert_eq!(a["credential_pool"]["nous"], json!([]));
    assert!(!env.shared().exists());
    // Quarantined: no further refresh request until the next login.
    let before = s.count("/api/oauth/token", Some("refresh_token"));
    let out = env.run(&["auth", "status", "nous"]);
    assert!(text(&out.stdout).starts_with("nous: logged out ("));
    assert_eq!(s.count("/api/oauth/token", Some("refresh_token")), before);
    // The next login clears it.
    assert!(env.login(&s).status.success());
    assert!(
        env.auth()["providers"]["nous"]
            .get("last_auth_error")
            .is_none()
    );
}

#[test]
fn unreachable_portal_keeps_login_and_says_why() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    expire_access(&env);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    let mut a = env.auth();
    a["providers"]["nous"]["portal_base_url"] = json!(dead_url);
    env.write_auth(&a);
    let out = env.run(&["auth", "status", "nous"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.starts_with("nous: logged in\n"), "{stdout}");
    let warn: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("refresh failed"))
        .collect();
    assert_eq!(warn.len(), 1, "{stdout}");
    assert_eq!(
        env.auth()["providers"]["nous"]["refresh_token"],
        "nous-rt-1"
    );
}

// ---------------------------------------------------------------------------------------------
// Portal generations
// ---------------------------------------------------------------------------------------------

#[test]
fn agent_key_portal_mints_and_remints_after_401() {
    let mut p = portal(&["ok"]);
    p.agent_keys = true;
    p.opaque_access = true;
    let s = Server::start(p);
    let env = Env::new();
    let out = env.login(&s);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let a = env.auth();
    let n = &a["providers"]["nous"];
    assert_eq!(n["credential_model"], "agent_key");
    assert_eq!(n["agent_key"], "nous-agent-key-1");
    assert_eq!(n["agent_key_id"], "key-1");
    let mint = s
        .log()
        .into_iter()
        .find(|r| r.path == "/api/oauth/agent-key")
        .unwrap();
    assert_eq!(mint.auth.as_deref(), Some("Bearer nous-at-opaque-1"));
    let body: Value = serde_json::from_str(&mint.form["body"]).unwrap();
    assert_eq!(body["min_ttl_seconds"], 1800);
    assert_eq!(
        a["credential_pool"]["nous"][0]["agent_key"],
        "nous-agent-key-1"
    );

    // An inference 401 with that key: one forced re-mint (the library call the proxy uses).
    let home = hermes::home::Home::at(&env.home);
    let ctx = hermes::pool::PoolContext::new(
        home.clone(),
        hermes::store::Config::load(&home).unwrap(),
        hermes::pool::EnvSource::default(),
        hermes::clock::system(),
    );
    let cred = hermes::providers::oauth::nous::recover_after_401(&ctx, "nous-agent-key-1").unwrap();
    assert_eq!(cred.api_key.expose(), "nous-agent-key-2");
    assert_eq!(s.count("/api/oauth/agent-key", None), 2);
    // A second worker that saw the same 401 adopts the new key without a request.
    let cred = hermes::providers::oauth::nous::recover_after_401(&ctx, "nous-agent-key-1").unwrap();
    assert_eq!(cred.api_key.expose(), "nous-agent-key-2");
    assert_eq!(s.count("/api/oauth/agent-key", None), 2);
    assert_eq!(
        env.auth()["providers"]["nous"]["agent_key"],
        "nous-agent-key-2"
    );

    // Status of a usable agent key makes no request.
    let before = s.log().len();
    let out = env.run(&["auth", "status", "nous"]);
    assert!(text(&out.stdout).starts_with("nous: logged in\n"));
    assert_eq!(s.log().len(), before);
}

#[test]
fn invoke_jwt_portal_is_remembered_and_not_probed_again() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    assert_eq!(s.count("/api/oauth/agent-key", None), 1);
    expire_access(&env);
    let out = env.run(&["auth", "status", "nous"]);
    assert!(text(&out.stdout).starts_with("nous: logged in\n"));
    assert_eq!(s.count("/api/oauth/token", Some("refresh_token")), 1);
    assert_eq!(s.count("/api/oauth/agent-key", None), 1, "probed again");
}

#[test]
fn logout_clears_the_shared_store() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    assert!(env.login(&s).status.success());
    assert!(env.shared().exists());
    let out = env.run(&["auth", "logout", "nous"]);
    assert!(text(&out.stdout).starts_with("Logged out of Nous Portal.\n"));
    assert!(!env.shared().exists());
}

#[test]
fn shared_store_import_in_another_profile() {
    let s = Server::start(portal(&["ok", "ok"]));
    let shared = tempfile::tempdir().unwrap();
    let a = Env::new();
    let b = Env::new();
    let run = |env: &Env, extra: &[&str]| {
        let mut c = env.cmd();
        c.env("HERMES_SHARED_AUTH_DIR", shared.path())
            .args([
                "auth",
                "add",
                "nous",
                "--portal-url",
                &s.url,
                "--no-browser",
            ])
            .args(extra);
        c.output().unwrap()
    };
    assert!(run(&a, &[]).status.success());
    // Without a terminal and without the flag nothing is imported: a device login runs.
    let out = run(&b, &["--no-import-shared"]);
    assert!(!text(&out.stdout).contains("Found existing"));
    let b2 = Env::new();
    let out = run(&b2, &["--import-shared"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Found existing Nous OAuth credentials at"),
        "{stdout}"
    );
    assert!(stdout.contains("Rehydrating Nous session from shared credentials..."));
    assert!(
        stdout.ends_with("Imported nous OAuth credentials: \"fixture-user@example.test\"\n"),
        "{stdout}"
    );
    let p = s.state.lock().unwrap();
    let rt = p.current_rt.clone();
    drop(p);
    assert_eq!(b2.auth()["providers"]["nous"]["refresh_token"], json!(rt));
    let sh: Value =
        serde_json::from_slice(&std::fs::read(shared.path().join("nous_auth.json")).unwrap())
            .unwrap();
    assert_eq!(
        sh["refresh_token"],
        json!(rt),
        "rotated token written back to the shared store"
    );

    // A dead shared grant: falls back to the device login.
    let mut st = sh.clone();
    st["refresh_token"] = json!("nous-rt-dead");
    std::fs::write(
        shared.path().join("nous_auth.json"),
        serde_json::to_vec(&st).unwrap(),
    )
    .unwrap();
    let b3 = Env::new();
    let out = run(&b3, &["--import-shared"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .contains("Could not refresh shared credentials — falling back to device-code login.")
    );
    assert!(stdout.contains("Saved nous OAuth device-code credentials"));
}

#[test]
fn browser_opens_through_dollar_browser_except_in_remote_sessions() {
    let s = Server::start(portal(&["ok", "ok"]));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("browser.sh");
    let log = dir.path().join("opened.txt");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let remote = [
        "SSH_CLIENT",
        "SSH_TTY",
        "CLOUD_SHELL",
        "CODESPACES",
        "CODESPACE_NAME",
        "GITPOD_WORKSPACE_ID",
        "REPL_ID",
        "STACKBLITZ",
    ];
    let env = Env::new();
    let mut c = env.cmd();
    for v in remote {
        c.env_remove(v);
    }
    let out = c
        .env("BROWSER", &script)
        .args(["auth", "add", "nous", "--portal-url", &s.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("  (Opened browser for verification)"));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "http://127.0.0.1/device?user_code=FAKE-0001\n"
    );
    let env = Env::new();
    let mut c = env.cmd();
    let out = c
        .env("BROWSER", &script)
        .env("SSH_CLIENT", "10.0.0.1 1 22")
        .args(["auth", "add", "nous", "--portal-url", &s.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("browser"));
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
}

#[test]
fn portal_provided_inference_url_is_announced_then_healed_by_status() {
    let mut p = portal(&["ok"]);
    p.inference_url = Some("https://inference.example.test/v1".into());
    let s = Server::start(p);
    let env = Env::new();
    let out = env.login(&s);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l == "Using portal-provided inference URL: https://inference.example.test/v1"),
        "{stdout}"
    );
    let out = env.run(&["auth", "status", "nous"]);
    assert!(text(&out.stdout).starts_with("nous: logged in\n"));
    assert_eq!(
        env.auth()["providers"]["nous"]["inference_base_url"],
        "https://inference-api.nousresearch.com/v1"
    );
}

#[test]
fn nous_label_flag_names_the_pool_entry_and_the_login() {
    let s = Server::start(portal(&["ok"]));
    let env = Env::new();
    let out = env.run(&[
        "auth",
        "add",
        "nous",
        "--portal-url",
        &s.url,
        "--no-browser",
        "--label",
        "my-nous",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = env.auth();
    assert_eq!(a["providers"]["nous"]["label"], "my-nous");
    assert_eq!(a["credential_pool"]["nous"][0]["label"], "my-nous");
    assert!(text(&out.stdout).contains("\"my-nous\""));
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
