//! Honcho sign-in against a local authorize + token endpoint, and the cross-process refresh.

#[path = "mcp_support/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use common::{TestHome, mode, read_json};
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    /// state → (redirect_uri, code_challenge)
    pending: HashMap<String, (String, String)>,
    authorize_queries: Vec<HashMap<String, String>>,
    token_forms: Vec<HashMap<String, String>>,
    refreshes: usize,
    current_refresh: String,
    issued: usize,
    fail_refresh: bool,
    wrong_state: bool,
}

type Shared = Arc<Mutex<Fake>>;

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut f = s.lock().unwrap();
    f.authorize_queries.push(q.clone());
    let state = if f.wrong_state {
        "forged".to_string()
    } else {
        q["state"].clone()
    };
    f.pending.insert(
        "the-code".into(),
        (q["redirect_uri"].clone(), q["code_challenge"].clone()),
    );
    let loc = format!("{}?code=the-code&state={state}", q["redirect_uri"]);
    (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response()
}

fn grant(f: &mut Fake) -> Value {
    f.issued += 1;
    f.current_refresh = format!("hch-rt-{}", f.issued);
    json!({
        "access_token": format!("hch-at-{}", f.issued),
        "refresh_token": f.current_refresh,
        "expires_in": 3600,
        "scope": "write",
        "token_type": "Bearer",
        "config": {"peerName": "alice"}
    })
}

async fn token(State(s): State<Shared>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let is_refresh = form.get("grant_type").map(String::as_str) == Some("refresh_token");
    if is_refresh {
        // Slow enough that concurrent refreshers would overlap without the lock.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut f = s.lock().unwrap();
    f.token_forms.push(form.clone());
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((redirect, challenge)) = f.pending.remove(&form["code"]) else {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "invalid_grant"})),
                )
                    .into_response();
            };
            let digest =
                ring::digest::digest(&ring::digest::SHA256, form["code_verifier"].as_bytes());
            let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if redirect != form["redirect_uri"] || expect != challenge {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "invalid_grant"})),
                )
                    .into_response();
            }
            axum::Json(grant(&mut f)).into_response()
        }
        Some("refresh_token") => {
            f.refreshes += 1;
            if f.fail_refresh {
                return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
            }
            if form["refresh_token"] != f.current_refresh {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "invalid_grant"})),
                )
                    .into_response();
            }
            axum::Json(grant(&mut f)).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "unsupported").into_response(),
    }
}

struct Server {
    state: Shared,
    base: String,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .with_state(state.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            state,
            base,
            _rt: rt,
        }
    }
    fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base)
    }
}

fn setup_cmd(home: &TestHome, srv: &Server) -> std::process::Command {
    let mut c = home.cmd();
    c.args([
        "memory",
        "setup",
        "honcho",
        "--deployment",
        "cloud",
        "--auth",
        "oauth",
        "--timeout",
        "20",
    ])
    .env(
        "HONCHO_OAUTH_AUTHORIZE_URL",
        format!("{}/authorize", srv.base),
    )
    .env("HONCHO_OAUTH_TOKEN_URL", srv.token_url())
    .env("BROWSER", home.browser_script())
    .env("DISPLAY", ":99")
    .stdin(Stdio::null());
    c
}

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn oauth_sign_in_writes_the_host_block() {
    let srv = Server::start();
    let home = TestHome::new();
    home.write_config("model:\n  provider: auto\n");
    let out = setup_cmd(&home, &srv).output().unwrap();
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("  Starting browser sign-in…"), "{text}");
    assert!(
        text.contains("Open this link to authorize (waiting up to"),
        "{text}"
    );
    assert!(text.contains("  Authorized — token saved."), "{text}");

    let path = home.hermes_home().join("honcho.json");
    assert_eq!(mode(&path), 0o600);
    let cfg = read_json(&path);
    let block = &cfg["hosts"]["hermes"];
    assert_eq!(block["apiKey"], "hch-at-1");
    assert_eq!(block["peerName"], "alice");
    let o = &block["oauth"];
    assert_eq!(o["refreshToken"], "hch-rt-1");
    assert_eq!(o["clientId"], "hermes-agent");
    assert_eq!(o["tokenEndpoint"], srv.token_url());
    assert_eq!(o["scope"], "write");
    assert_eq!(o["tokenType"], "Bearer");
    let exp = o["expiresAt"].as_i64().unwrap() as f64;
    assert!((exp - (now() + 3600.0)).abs() < 60.0);
    assert!(!text.contains("hch-at-1") && !text.contains("hch-rt-1"));

    let f = srv.state.lock().unwrap();
    let q = &f.authorize_queries[0];
    assert_eq!(q["client_id"], "hermes-agent");
    assert_eq!(q["scope"], "write");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["source"], "hermes-cli");
    assert!(
        q["redirect_uri"].starts_with("http://127.0.0.1:")
            && q["redirect_uri"].ends_with("/callback")
    );
    let form = &f.token_forms[0];
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], "hermes-agent");
    drop(f);

    // memory.provider is set, other keys kept; `honcho status` shows the OAuth line.
    let yaml = std::fs::read_to_string(home.hermes_home().join("config.yaml")).unwrap();
    assert!(
        yaml.contains("provider: honcho") && yaml.contains("provider: auto"),
        "{yaml}"
    );
    let st = home.cmd().args(["honcho", "status"]).output().unwrap();
    let st_text = out_text(&st);
    assert!(st.status.success(), "{st_text}");
    assert!(
        st_text.contains("  Auth:           OAuth (hermes-agent, token valid 59m)")
            || st_text.contains("  Auth:           OAuth (hermes-agent, token valid 60m)"),
        "{st_text}"
    );
    assert!(st_text.contains("  Host:           hermes"), "{st_text}");
}

#[test]
fn busy_8765_falls_back_to_an_ephemeral_port() {
    // Hold 8765 ourselves. Another sign-in test of this binary may hold it for a moment, so
    // retry; a process outside the tests holding it keeps it busy just as well.
    let mut hold = None;
    for _ in 0..100 {
        match std::net::TcpListener::bind("127.0.0.1:8765") {
            Ok(l) => {
                hold = Some(l);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let _hold = hold;
    let srv = Server::start();
    let home = TestHome::new();
    home.write_config("");
    let out = setup_cmd(&home, &srv).output().unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let f = srv.state.lock().unwrap();
    let redirect = &f.authorize_queries[0]["redirect_uri"];
    assert!(!redirect.contains(":8765/"), "{redirect}");
    assert_eq!(f.token_forms[0]["redirect_uri"], *redirect);
    assert_eq!(
        read_json(&home.hermes_home().join("honcho.json"))["hosts"]["hermes"]["apiKey"],
        "hch-at-1"
    );
}

#[test]
fn state_mismatch_aborts_without_writing() {
    let srv = Server::start();
    srv.state.lock().unwrap().wrong_state = true;
    let home = TestHome::new();
    home.write_config("");
    let out = setup_cmd(&home, &srv).output().unwrap();
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  OAuth sign-in failed: OAuth state mismatch — possible CSRF, aborting"),
        "{text}"
    );
    assert!(
        text.contains("Re-run 'hermes honcho setup' to retry"),
        "{text}"
    );
    assert!(!home.hermes_home().join("honcho.json").exists());
    assert!(srv.state.lock().unwrap().token_forms.is_empty());
}

#[test]
fn no_terminal_without_flags_exits_2_before_any_output() {
    let home = TestHome::new();
    home.write_config("");
    let out = home
        .cmd()
        .args(["memory", "setup", "honcho", "--deployment", "cloud"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth oauth|apikey"));
    let out = home.cmd().args(["honcho", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid choice: 'honcho'"));
}

fn expiring_config(home: &TestHome, srv: &Server) {
    home.write_config("memory:\n  provider: honcho\n");
    let cfg = json!({
        "workspace": "ws",
        "hosts": {"hermes": {
            "apiKey": "hch-at-0",
            "peerName": "bob",
            "oauth": {"refreshToken": "hch-rt-0", "expiresAt": (now() + 60.0) as i64,
                      "clientId": "hermes-agent", "tokenEndpoint": srv.token_url(),
                      "scope": "write", "tokenType": "Bearer"}
        }}
    });
    std::fs::write(
        home.hermes_home().join("honcho.json"),
        serde_json::to_string_pretty(&cfg).unwrap(),
    )
    .unwrap();
    srv.state.lock().unwrap().current_refresh = "hch-rt-0".into();
}

#[test]
fn eight_processes_refresh_an_expiring_token_exactly_once() {
    let srv = Server::start();
    let home = TestHome::new();
    expiring_config(&home, &srv);
    let children: Vec<_> = (0..8)
        .map(|_| {
            home.cmd()
                .args(["honcho", "status"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = out_text(&out);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("OAuth (hermes-agent, token valid 5"),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
    }
    let f = srv.state.lock().unwrap();
    assert_eq!(f.refreshes, 1, "{:?}", f.token_forms);
    let form = &f.token_forms[0];
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["client_id"], "hermes-agent");
    assert_eq!(form["refresh_token"], "hch-rt-0");
    assert_eq!(form.len(), 3);
    drop(f);
    let path = home.hermes_home().join("honcho.json");
    let cfg = read_json(&path);
    assert_eq!(cfg["hosts"]["hermes"]["apiKey"], "hch-at-1");
    assert_eq!(cfg["hosts"]["hermes"]["oauth"]["refreshToken"], "hch-rt-1");
    assert_eq!(cfg["hosts"]["hermes"]["peerName"], "bob");
    assert_eq!(cfg["workspace"], "ws");
    assert_eq!(mode(&path), 0o600);
    assert!(home.hermes_home().join("honcho.json.lock").exists());
}

#[test]
fn failed_refresh_leaves_the_file_unchanged() {
    let srv = Server::start();
    srv.state.lock().unwrap().fail_refresh = true;
    let home = TestHome::new();
    expiring_config(&home, &srv);
    let path = home.hermes_home().join("honcho.json");
    let before = std::fs::read(&path).unwrap();
    let out = home.cmd().args(["honcho", "status"]).output().unwrap();
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning: Honcho token refresh failed"),
        "{text}"
    );
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        text.contains("OAuth (hermes-agent, token valid 0m)"),
        "{text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn terminal_wizard_asks_deployment_and_auth_method() {
    use rexpect::session::spawn_command;
    let home = TestHome::new();
    home.write_config("");
    let mut cmd = home.cmd();
    cmd.args(["memory", "setup", "honcho"]);
    let mut p = spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("Cloud or local? [cloud]: ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("OAuth or API key? [oauth]: ").unwrap();
    p.send_line("apikey").unwrap();
    p.exp_string("Honcho API key (leave blank to keep current): ")
        .unwrap();
    p.send_line("hk-test-0123456789abcdef").unwrap();
    p.exp_string("Honcho configured for host 'hermes' (API key)")
        .unwrap();
    p.exp_eof().unwrap();
    let cfg = read_json(&home.hermes_home().join("honcho.json"));
    assert_eq!(cfg["apiKey"], "hk-test-0123456789abcdef");
    let st = home.cmd().args(["honcho", "status"]).output().unwrap();
    let text = out_text(&st);
    assert!(
        text.contains("  Auth:           API key (hk-t…cdef)"),
        "{text}"
    );
    assert!(!text.contains("hk-test-0123456789abcdef"), "{text}");
}

#[test]
fn local_setup_keeps_config_yaml_comments_and_order() {
    let home = TestHome::new();
    let original = "# my hermes config\nmodel:\n  default: gpt-x   # pinned on purpose\n  provider: openrouter\n\n# memory below\nmemory:\n  user_profile_enabled: true  # keep\nterminal:\n  backend: local\n";
    home.write_config(original);
    let out = home
        .cmd()
        .args([
            "memory",
            "setup",
            "honcho",
            "--deployment",
            "local",
            "--base-url",
            "http://127.0.0.1:9",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let yaml = std::fs::read_to_string(home.hermes_home().join("config.yaml")).unwrap();
    // Only the new key is added; every other byte (comments, order, blank lines) survives.
    let expected = original.replace(
        "  user_profile_enabled: true  # keep\n",
        "  user_profile_enabled: true  # keep\n  provider: honcho\n",
    );
    assert_eq!(yaml, expected);
}

#[test]
fn a_damaged_config_yaml_or_honcho_json_is_reported_and_left_alone() {
    // config.yaml that does not parse: nothing is written, not even honcho.json.
    let home = TestHome::new();
    home.write_config("memory: [unclosed\n");
    let out = home
        .cmd()
        .args(["memory", "setup", "honcho", "--deployment", "local"])
        .args(["--base-url", "http://127.0.0.1:9"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("is not valid YAML"), "{text}");
    assert!(!home.hermes_home().join("honcho.json").exists());
    assert_eq!(
        std::fs::read_to_string(home.hermes_home().join("config.yaml")).unwrap(),
        "memory: [unclosed\n"
    );

    // honcho.json that does not parse: status and setup refuse it, byte for byte unchanged.
    let home = TestHome::new();
    home.write_config("memory:\n  provider: honcho\n");
    let path = home.hermes_home().join("honcho.json");
    std::fs::write(
        &path,
        "{\"hosts\": {\"hermes\": {\"apiKey\": \"hch-secret-1\"",
    )
    .unwrap();
    for args in [
        vec!["honcho", "status"],
        vec![
            "memory",
            "setup",
            "honcho",
            "--deployment",
            "local",
            "--base-url",
            "http://127.0.0.1:9",
        ],
    ] {
        let out = home
            .cmd()
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = out_text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains("honcho.json is not valid JSON"), "{text}");
        assert!(!text.contains("hch-secret-1"), "{text}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"hosts\": {\"hermes\": {\"apiKey\": \"hch-secret-1\""
        );
    }
}
