//! MiniMax OAuth and GitHub Copilot against local fakes, through the real binary.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

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
    fn run(&self, vars: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin!("hermes"));
        for v in [
            "BROWSER",
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "COPILOT_GITHUB_TOKEN",
        ] {
            c.env_remove(v);
        }
        c.env("HERMES_HOME", &self.home)
            .env("HOME", &self.user)
            .env("PATH", "/usr/bin:/bin")
            .env("HERMES_OAUTH_POLL_SCALE", "0.01")
            // Tests never reach the real network: anything not on loopback goes to a dead proxy.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .args(args)
            .output()
            .inspect(|out| assert_no_tokens(&out.stdout, &out.stderr))
            .unwrap()
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

fn serve(app: Router) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rt)
}

// ---------------------------------------------------------------------------------------------
// MiniMax
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Mm {
    wrong_state: bool,
    pending: u32,
    serial: u32,
    rt: String,
    challenge: String,
    request_id: Option<String>,
    verifiers: Vec<String>,
    refreshes: Vec<HashMap<String, String>>,
    refresh_fail: VecDeque<&'static str>,
}

type MmS = Arc<Mutex<Mm>>;

async fn mm_code(State(s): State<MmS>, h: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let mut m = s.lock().unwrap();
    m.request_id = h
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    m.challenge = f["code_challenge"].clone();
    let state = if m.wrong_state {
        "not-your-state".to_string()
    } else {
        f["state"].clone()
    };
    Json(json!({"user_code": "MM-1", "verification_uri": "http://127.0.0.1/mm", "expired_in": 300, "interval": 2000, "state": state}))
        .into_response()
}

fn mm_issue(m: &mut Mm) -> Value {
    m.serial += 1;
    m.rt = format!("mm-rt-{}", m.serial);
    json!({"status": "success", "access_token": format!("mm-at-{}", m.serial), "refresh_token": m.rt, "expired_in": 3600})
}

async fn mm_token(State(s): State<MmS>, body: String) -> Response {
    let f = form(&body);
    let mut m = s.lock().unwrap();
    if f.get("grant_type").map(String::as_str) == Some("refresh_token") {
        m.refreshes.push(f.clone());
        if m.refresh_fail.pop_front().is_some() || f.get("refresh_token") != Some(&m.rt) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        return Json(mm_issue(&mut m)).into_response();
    }
    m.verifiers.push(f["code_verifier"].clone());
    if m.pending > 0 {
        m.pending -= 1;
        return Json(json!({"status": "pending"})).into_response();
    }
    Json(mm_issue(&mut m)).into_response()
}

fn minimax(mm: Mm) -> (String, MmS, tokio::runtime::Runtime) {
    let s: MmS = Arc::new(Mutex::new(mm));
    let app = Router::new()
        .route("/oauth/code", post(mm_code))
        .route("/oauth/token", post(mm_token))
        .with_state(s.clone());
    let (url, rt) = serve(app);
    (url, s, rt)
}

#[test]
fn minimax_login_stores_the_singleton_and_a_pool_entry() {
    let (url, s, _rt) = minimax(Mm {
        pending: 1,
        ..Mm::default()
    });
    let env = Env::new();
    let out = env.run(
        &[("HERMES_MINIMAX_OAUTH_BASE", &url)],
        &["auth", "add", "minimax-oauth", "--no-browser"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("  2. If prompted, enter code: MM-1"));
    assert!(stdout.contains("✓ MiniMax OAuth login successful."));
    assert!(
        stdout.ends_with("Added minimax-oauth OAuth credential #1: \"minimax-oauth-oauth-1\"\n"),
        "{stdout}"
    );
    let m = s.lock().unwrap();
    assert!(m.request_id.is_some(), "x-request-id is sent");
    assert_eq!(m.verifiers.len(), 2);
    let digest = ring::digest::digest(&ring::digest::SHA256, m.verifiers[0].as_bytes());
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()),
        m.challenge
    );
    drop(m);
    let a = env.auth();
    let st = &a["providers"]["minimax-oauth"];
    assert_eq!(st["region"], "global");
    assert_eq!(st["refresh_token"], "mm-rt-1");
    assert_eq!(a["active_provider"], "minimax-oauth");
    let out = env.run(&[], &["auth", "list", "minimax-oauth"]);
    let list = text(&out.stdout);
    assert!(
        list.contains("minimax_oauth") && list.contains("oauth"),
        "{list}"
    );
    let rows = env.auth()["credential_pool"]["minimax-oauth"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
}

#[test]
fn minimax_state_mismatch_aborts() {
    let (url, _s, _rt) = minimax(Mm {
        wrong_state: true,
        ..Mm::default()
    });
    let env = Env::new();
    let out = env.run(
        &[("HERMES_MINIMAX_OAUTH_BASE", &url)],
        &["auth", "add", "minimax-oauth", "--no-browser"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("MiniMax OAuth state mismatch (possible CSRF)."));
    assert!(!env.home.join("auth.json").exists());
}

#[test]
fn minimax_status_refreshes_an_expired_login_once_and_quarantines_a_dead_one() {
    let (url, s, _rt) = minimax(Mm::default());
    let env = Env::new();
    let vars = [("HERMES_MINIMAX_OAUTH_BASE", url.as_str())];
    assert!(
        env.run(&vars, &["auth", "add", "minimax-oauth", "--no-browser"])
            .status
            .success()
    );
    env.run(&[], &["auth", "list", "minimax-oauth"]);
    let mut a = env.auth();
    a["providers"]["minimax-oauth"]["expires_at"] = json!("2020-01-01T00:00:00+00:00");
    for r in a["credential_pool"]["minimax-oauth"]
        .as_array_mut()
        .unwrap()
    {
        r["expires_at_ms"] = json!(1_577_836_800_000i64);
    }
    env.write_auth(&a);
    let out = env.run(&vars, &["auth", "status", "minimax-oauth"]);
    assert!(
        text(&out.stdout).starts_with("minimax-oauth: logged in\n"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(s.lock().unwrap().refreshes.len(), 1);
    let a = env.auth();
    assert_eq!(a["providers"]["minimax-oauth"]["refresh_token"], "mm-rt-2");
    for r in a["credential_pool"]["minimax-oauth"].as_array().unwrap() {
        assert_eq!(r["refresh_token"], "mm-rt-2", "{r}");
    }

    // A dead grant: logged out with the reason, tokens removed, no retry.
    let mut a = env.auth();
    a["providers"]["minimax-oauth"]["expires_at"] = json!("2020-01-01T00:00:00+00:00");
    env.write_auth(&a);
    s.lock().unwrap().refresh_fail.push_back("dead");
    let out = env.run(&vars, &["auth", "status", "minimax-oauth"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("minimax-oauth: logged out (MiniMax OAuth refresh failed"),
        "{stdout}"
    );
    let a = env.auth();
    assert!(
        a["providers"]["minimax-oauth"]
            .get("refresh_token")
            .is_none()
    );
    assert_eq!(
        a["providers"]["minimax-oauth"]["last_auth_error"]["relogin_required"],
        true
    );
    let n = s.lock().unwrap().refreshes.len();
    env.run(&vars, &["auth", "status", "minimax-oauth"]);
    assert_eq!(s.lock().unwrap().refreshes.len(), n);
}

// ---------------------------------------------------------------------------------------------
// Copilot
// ---------------------------------------------------------------------------------------------

#[test]
fn copilot_status_discovers_env_tokens_and_rejects_classic_pats() {
    let app = Router::new().route(
        "/copilot_internal/v2/token",
        get(|h: HeaderMap| async move {
            if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("token gho_good") {
                return (StatusCode::UNAUTHORIZED, "no").into_response();
            }
            Json(json!({"token": "tid=1;exp=2;proxy-ep=proxy.enterprise.githubcopilot.com", "expires_at": 4_000_000_000i64}))
                .into_response()
        }),
    );
    let (url, _rt) = serve(app);
    let exchange = format!("{url}/copilot_internal/v2/token");
    let env = Env::new();
    let vars = |t: &'static str| {
        vec![
            ("GH_TOKEN", t),
            ("HERMES_COPILOT_TOKEN_EXCHANGE_URL", exchange.as_str()),
        ]
    };
    let out = env.run(&vars("gho_good"), &["auth", "status", "copilot", "-v"]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("copilot: logged in\n"), "{stdout}");
    assert!(
        stdout.contains("api_base_url: https://api.enterprise.githubcopilot.com"),
        "{stdout}"
    );
    // Exchange failure: the raw token is used, still logged in.
    let out = env.run(&vars("gho_other"), &["auth", "status", "copilot"]);
    assert!(text(&out.stdout).starts_with("copilot: logged in\n"));
    let out = env.run(&vars("ghp_classic"), &["auth", "status", "copilot"]);
    assert_eq!(text(&out.stdout), "copilot: logged out\n");
    // auth list never calls the exchange.
    let out = env.run(&vars("gho_good"), &["auth", "list"]);
    assert!(out.status.success());
}

#[test]
fn copilot_device_login_saves_the_token_to_dotenv() {
    #[derive(Default)]
    struct Gh {
        polls: u32,
    }
    let s = Arc::new(Mutex::new(Gh::default()));
    let app = Router::new()
        .route(
            "/login/device/code",
            post(|| async {
                Json(json!({"device_code": "gh-dc", "user_code": "ABCD-1234", "verification_uri": "https://github.com/login/device", "expires_in": 900, "interval": 1}))
            }),
        )
        .route(
            "/login/oauth/access_token",
            post(|State(s): State<Arc<Mutex<Gh>>>| async move {
                let mut g = s.lock().unwrap();
                g.polls += 1;
                // GitHub answers pending with HTTP 200.
                if g.polls == 1 {
                    Json(json!({"error": "authorization_pending"}))
                } else {
                    Json(json!({"access_token": "gho_from_device", "token_type": "bearer"}))
                }
            }),
        )
        .with_state(s.clone());
    let (url, _rt) = serve(app);
    let env = Env::new();
    let out = env.run(
        &[("HERMES_COPILOT_GITHUB_URL", &url)],
        &["auth", "add", "copilot", "--type", "oauth", "--no-browser"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("  Enter this code: ABCD-1234"));
    assert!(!stdout.contains("gho_from_device"));
    let dotenv = std::fs::read_to_string(env.home.join(".env")).unwrap();
    assert_eq!(dotenv, "COPILOT_GITHUB_TOKEN=gho_from_device\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.home.join(".env"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(s.lock().unwrap().polls, 2);
}

/// No token of the fakes (nor any JWT) ever reaches the output.
fn assert_no_tokens(stdout: &[u8], stderr: &[u8]) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    );
    for pat in ["-rt-", "-at-", "eyJ", "gho_", "ghu_"] {
        assert!(!text.contains(pat), "token-like {pat:?} in output:\n{text}");
    }
}
