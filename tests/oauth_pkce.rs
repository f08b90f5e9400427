//! PKCE logins (Anthropic, Spotify, Gemini) and Qwen import, run through the real binary
//! against local fakes on 127.0.0.1. Never touches the network or the real home.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// A recording fake HTTP server (axum on its own runtime thread).
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    #[allow(dead_code)]
    query: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    #[allow(dead_code)]
    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

type Reply = Box<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

struct Fake {
    base: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(reply: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Fake {
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let reply: Arc<Reply> = Arc::new(Box::new(reply));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let log = log2.clone();
                    let reply = reply.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            query: parts.uri.query().unwrap_or("").to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                                })
                                .collect(),
                            body: String::from_utf8_lossy(&bytes).into_owned(),
                        };
                        let (status, text) = reply(&seen);
                        log.lock().unwrap().push(seen);
                        axum::response::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(axum::body::Body::from(text))
                            .unwrap()
                    }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        let port = rx.recv().unwrap();
        Fake {
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
    fn posts(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path == path)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Hermetic environment and a running `hermes` process.
// ---------------------------------------------------------------------------------------

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    user: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("hermes");
        let user = tmp.path().join("user");
        std::fs::create_dir_all(&user).unwrap();
        Env {
            home,
            user,
            vars: vec![],
            _tmp: tmp,
        }
    }
    fn var(mut self, k: &str, v: &str) -> Env {
        self.vars.push((k.into(), v.into()));
        self
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hermes"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HERMES_HOME", &self.home)
            .env("HOME", &self.user)
            .env("LANG", "C.UTF-8");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }
    /// Runs to completion with `stdin` as input.
    fn run(&self, args: &[&str], stdin: &str) -> Out {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                // Split on newlines and also hand over a pending prompt (no newline).
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Running {
            child,
            lines: rx,
            text: String::new(),
        }
    }
    fn auth(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.home.join("auth.json")).unwrap()).unwrap()
    }
    fn write_auth(&self, v: &Value) {
        std::fs::create_dir_all(&self.home).unwrap();
        std::fs::write(
            self.home.join("auth.json"),
            serde_json::to_vec_pretty(v).unwrap(),
        )
        .unwrap();
    }
}

#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    text: String,
}

impl Running {
    /// Reads stdout until a line matches; returns that line.
    fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no matching line; stdout so far:\n{}", self.text));
            self.text.push_str(&line);
            if pred(&line) {
                return line;
            }
        }
    }
    fn send(&mut self, s: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }
    fn finish(mut self) -> Out {
        self.close_stdin();
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.text.push_str(&l);
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        Out {
            code: status.code().unwrap_or(-1),
            stdout: self.text,
            stderr: err,
        }
    }
}

fn query_param(url: &str, name: &str) -> String {
    let u = url::Url::parse(url.trim()).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} missing in {url}"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------

fn anthropic_fake() -> Fake {
    Fake::start(|s| {
        let j = s.json();
        match (s.path.as_str(), j["grant_type"].as_str()) {
            ("/v1/oauth/token", Some("authorization_code")) if j["code"] == "good-code" => (
                200,
                json!({"access_token": "sk-ant-oat01-NEW-0001", "refresh_token": "sk-ant-ort01-NEW-0001", "expires_in": 3600}).to_string(),
            ),
            ("/v1/oauth/token", Some("refresh_token")) => (
                200,
                json!({"access_token": "sk-ant-oat01-ROT-0002", "refresh_token": "sk-ant-ort01-ROT-0002", "expires_in": 7200}).to_string(),
            ),
            _ => (400, json!({"error": "invalid_grant", "error_description": "bad code"}).to_string()),
        }
    })
}

#[test]
fn anthropic_pasted_code_logs_in() {
    let fake = anthropic_fake();
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_TOKEN_URL",
        &format!("{}/v1/oauth/token", fake.base),
    );
    let mut p = env.spawn(&["auth", "add", "anthropic", "--no-browser"]);
    let url = p.until(|l| l.contains("claude.ai/oauth/authorize?"));
    assert!(url.trim().starts_with("https://claude.ai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e&response_type=code&redirect_uri=https%3A%2F%2Fconsole.anthropic.com%2Foauth%2Fcode%2Fcallback&scope=org%3Acreate_api_key+user%3Aprofile+user%3Ainference&code_challenge="));
    let state = query_param(&url, "state");
    let challenge = query_param(&url, "code_challenge");
    p.send(&format!("good-code#{state}\n"));
    let before = now_ms();
    let out = p.finish();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Added anthropic OAuth credential #1: \"anthropic-oauth-1\""),
        "{out:?}"
    );
    let posts = fake.posts("/v1/oauth/token");
    assert_eq!(posts.len(), 1);
    let body = posts[0].json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "grant_type",
            "client_id",
            "code",
            "state",
            "redirect_uri",
            "code_verifier"
        ]
    );
    assert_eq!(body["state"], state.as_str());
    assert_eq!(posts[0].headers["user-agent"], "axios/1.7.9");
    assert!(posts[0].headers["content-type"].starts_with("application/json"));
    // The verifier hashes to the challenge that was shown.
    let verifier = body["code_verifier"].as_str().unwrap();
    assert_eq!(verifier.len(), 43);
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
        challenge
    );
    let auth = env.auth();
    let e = &auth["credential_pool"]["anthropic"][0];
    assert_eq!(e["source"], "manual:hermes_pkce");
    assert_eq!(e["auth_type"], "oauth");
    assert_eq!(e["access_token"], "sk-ant-oat01-NEW-0001");
    assert_eq!(e["refresh_token"], "sk-ant-ort01-NEW-0001");
    assert_eq!(e["base_url"], "https://api.anthropic.com");
    let exp = e["expires_at_ms"].as_i64().unwrap();
    assert!(
        exp >= before + 3_590_000 && exp <= now_ms() + 3_600_000,
        "{exp}"
    );
    assert!(auth.get("active_provider").is_none_or(Value::is_null));
    assert_eq!(mode(&env.home.join("auth.json")), 0o600);
    // Tokens never reach the terminal.
    assert!(!out.stdout.contains("sk-ant-oat01-NEW") && !out.stderr.contains("sk-ant-oat01-NEW"));
}

#[test]
fn anthropic_wrong_state_empty_and_missing_input() {
    let fake = anthropic_fake();
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_TOKEN_URL",
        &format!("{}/v1/oauth/token", fake.base),
    );
    let out = env.run(
        &["auth", "add", "anthropic", "--no-browser"],
        "good-code#wrong\n",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("Anthropic OAuth login did not return credentials.")
    );
    assert!(fake.seen().is_empty(), "no exchange on a state mismatch");

    let out = env.run(&["auth", "add", "anthropic", "--no-browser"], "\n");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("No code entered."));
    assert!(
        out.stderr
            .contains("Anthropic OAuth login did not return credentials.")
    );

    let out = env.run(&["auth", "add", "anthropic", "--no-browser"], "");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("standard input"), "{out:?}");
    assert!(
        !env.home.join("auth.json").exists()
            || env.auth()["credential_pool"]["anthropic"]
                .as_array()
                .is_none_or(|a| a.is_empty())
    );
}

#[test]
fn anthropic_refresh_rotation_is_persisted_once() {
    let fake = anthropic_fake();
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_TOKEN_URL",
        &format!("{}/v1/oauth/token", fake.base),
    );
    env.write_auth(&json!({
        "version": 1,
        "providers": {},
        "credential_pool": {"anthropic": [{
            "id": "abc123", "label": "me", "auth_type": "oauth", "priority": 0,
            "source": "manual:hermes_pkce", "access_token": "sk-ant-oat01-OLD",
            "refresh_token": "sk-ant-ort01-OLD", "base_url": "https://api.anthropic.com",
            "expires_at_ms": now_ms() + 60_000, "request_count": 0
        }]}
    }));
    let out = env.run(&["auth", "status", "anthropic"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "anthropic: logged in\n");
    let posts = fake.posts("/v1/oauth/token");
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].json(),
        json!({"grant_type": "refresh_token", "refresh_token": "sk-ant-ort01-OLD", "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e"})
    );
    let e = env.auth()["credential_pool"]["anthropic"][0].clone();
    assert_eq!(e["access_token"], "sk-ant-oat01-ROT-0002");
    assert_eq!(e["refresh_token"], "sk-ant-ort01-ROT-0002");
    assert!(e["expires_at_ms"].as_i64().unwrap() > now_ms() + 7_000_000);
    // Now valid: a second status spends nothing.
    let out = env.run(&["auth", "status", "anthropic"], "");
    assert_eq!(out.stdout, "anthropic: logged in\n");
    assert_eq!(fake.posts("/v1/oauth/token").len(), 1);
}

#[test]
fn anthropic_refresh_failure_keeps_the_login() {
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_TOKEN_URL",
        "http://127.0.0.1:9/v1/oauth/token",
    );
    env.write_auth(&json!({
        "version": 1, "providers": {},
        "credential_pool": {"anthropic": [{
            "id": "abc123", "label": "me", "auth_type": "oauth", "priority": 0,
            "source": "manual:hermes_pkce", "access_token": "sk-ant-oat01-OLD",
            "refresh_token": "sk-ant-ort01-OLD", "expires_at_ms": now_ms() - 1000
        }]}
    }));
    let out = env.run(&["auth", "status", "anthropic"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("anthropic: logged in\n"), "{out:?}");
    assert!(
        out.stdout
            .contains("refresh_error: me: Anthropic token refresh failed"),
        "{out:?}"
    );
    assert_eq!(
        env.auth()["credential_pool"]["anthropic"][0]["refresh_token"],
        "sk-ant-ort01-OLD"
    );
}
