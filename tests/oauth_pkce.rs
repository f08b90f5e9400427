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
    query: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
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
                        let b = axum::response::Response::builder().status(status);
                        match text.strip_prefix("REDIRECT ") {
                            Some(loc) => b.header("location", loc).body(axum::body::Body::empty()),
                            None => b
                                .header("content-type", "application/json")
                                .body(axum::body::Body::from(text)),
                        }
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
            .env("LANG", "C.UTF-8")
            // Tests never reach the real network: anything not on loopback goes to a dead proxy.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1");
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
        assert_no_tokens(&o.stdout, &o.stderr);
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
        assert_no_tokens(self.text.as_bytes(), err.as_bytes());
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
fn anthropic_eight_processes_refresh_once() {
    let fake = anthropic_fake();
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_TOKEN_URL",
        &format!("{}/v1/oauth/token", fake.base),
    );
    env.write_auth(&json!({
        "version": 1, "providers": {},
        "credential_pool": {"anthropic": [{
            "id": "abc123", "label": "me", "auth_type": "oauth", "priority": 0,
            "source": "manual:hermes_pkce", "access_token": "sk-ant-oat01-OLD",
            "refresh_token": "sk-ant-ort01-OLD", "expires_at_ms": now_ms() - 1000
        }]}
    }));
    let children: Vec<Child> = (0..8)
        .map(|_| {
            env.cmd(&["auth", "status", "anthropic"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success());
        assert_eq!(String::from_utf8_lossy(&o.stdout), "anthropic: logged in\n");
    }
    assert_eq!(
        fake.posts("/v1/oauth/token").len(),
        1,
        "exactly one refresh request"
    );
    let e = env.auth()["credential_pool"]["anthropic"][0].clone();
    assert_eq!(e["refresh_token"], "sk-ant-ort01-ROT-0002");
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

// ---------------------------------------------------------------------------------------
// Spotify
// ---------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fake Spotify accounts host: `/authorize` redirects to the loopback with a code and the
/// request's state (or `forced_state`), `/api/token` issues tokens.
fn spotify_fake(forced_state: Option<&'static str>) -> Fake {
    Fake::start(move |s| match s.path.as_str() {
        "/authorize" => {
            let q: HashMap<String, String> = url::form_urlencoded::parse(s.query.as_bytes())
                .into_owned()
                .collect();
            let state = forced_state
                .map(str::to_string)
                .unwrap_or(q["state"].clone());
            (
                302,
                format!(
                    "REDIRECT {}?code=spotify-ac-1&state={state}",
                    q["redirect_uri"]
                ),
            )
        }
        "/api/token" => {
            let f: HashMap<String, String> = s.form().into_iter().collect();
            if f.get("grant_type").map(String::as_str) == Some("refresh_token") {
                (
                    200,
                    json!({"access_token": "spotify-at-2", "expires_in": 3600}).to_string(),
                )
            } else {
                (
                    200,
                    json!({"access_token": "spotify-at-1", "refresh_token": "spotify-rt-1",
                           "token_type": "Bearer", "expires_in": 3600,
                           "scope": "user-read-playback-state"})
                    .to_string(),
                )
            }
        }
        _ => (404, "{}".into()),
    })
}

/// A `$BROWSER` stand-in that "clicks" the URL: curl following redirects to the loopback.
fn browser_script(env: &Env) -> String {
    let path = env.user.join("browser.sh");
    std::fs::write(&path, "#!/bin/sh\nexec curl -sSL -o /dev/null \"$1\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn spotify_browser_login_status_and_logout() {
    let fake = spotify_fake(None);
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &fake.base);
    let browser = browser_script(&env);
    let env = env.var("BROWSER", &browser);
    let redirect = format!("http://127.0.0.1:{}/spotify/callback", free_port());
    let out = env.run(
        &[
            "auth",
            "spotify",
            "login",
            "--client-id",
            "CID",
            "--redirect-uri",
            &redirect,
            "--timeout",
            "20",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("Starting Spotify PKCE login...\nClient ID: CID\n"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("Browser opened for Spotify authorization.\n")
    );
    assert!(out.stdout.ends_with(&format!(
        "Spotify login successful!\n  Auth state: {}\n  Provider state saved under providers.spotify\n  Docs: https://hermes-agent.nousresearch.com/docs/user-guide/features/spotify\n",
        env.home.join("auth.json").display()
    )), "{out:?}");
    let url = out
        .stdout
        .lines()
        .find(|l| l.contains("/authorize?"))
        .unwrap();
    let keys: Vec<String> = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge_method",
            "code_challenge"
        ]
    );
    let state = query_param(url, "state");
    assert_eq!(state.len(), 32);
    assert!(state.bytes().all(|b| b.is_ascii_hexdigit()));
    let token = fake.posts("/api/token");
    assert_eq!(token.len(), 1);
    let form = token[0].form();
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier"
        ]
    );
    assert_eq!(form[2].1, "spotify-ac-1");
    assert_eq!(form[3].1, redirect);
    let auth = env.auth();
    let sp = &auth["providers"]["spotify"];
    let keys: Vec<&str> = sp.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "redirect_uri",
            "accounts_base_url",
            "api_base_url",
            "scope",
            "granted_scope",
            "token_type",
            "access_token",
            "refresh_token",
            "obtained_at",
            "expires_at",
            "expires_in",
            "auth_type"
        ]
    );
    assert_eq!(sp["auth_type"], "oauth_pkce");
    assert_eq!(sp["access_token"], "spotify-at-1");
    assert_eq!(sp["granted_scope"], "user-read-playback-state");
    assert!(auth.get("active_provider").is_none_or(Value::is_null));

    let out = env.run(&["auth", "spotify", "status"], "");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{out:?}");
    assert_eq!(lines[0], "spotify: logged in");
    assert_eq!(lines[1], "  auth_type: oauth_pkce");
    assert_eq!(lines[2], "  client_id: CID");
    assert_eq!(lines[4], "  scope: user-read-playback-state");

    let out = env.run(&["auth", "spotify", "logout"], "");
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "Logged out of Spotify.\nModel provider configuration was unchanged.\n"
    );
    assert!(env.auth()["providers"].get("spotify").is_none());
    let out = env.run(&["auth", "status", "spotify"], "");
    assert_eq!(out.stdout, "spotify: logged out\n");
}

#[test]
fn spotify_wrong_state_is_rejected() {
    let fake = spotify_fake(Some("0123456789abcdef0123456789abcdef"));
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &fake.base);
    let browser = browser_script(&env);
    let env = env.var("BROWSER", &browser);
    let redirect = format!("http://127.0.0.1:{}/spotify/callback", free_port());
    let out = env.run(
        &[
            "auth",
            "spotify",
            "--client-id",
            "CID",
            "--redirect-uri",
            &redirect,
            "--timeout",
            "20",
        ],
        "",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr.lines().next(),
        Some("Spotify authorization failed: state mismatch.")
    );
    assert!(fake.posts("/api/token").is_empty());
    assert!(!env.home.join("auth.json").exists());
}

#[test]
fn spotify_wrong_state_gets_a_failure_page() {
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", "http://127.0.0.1:9");
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/spotify/callback");
    let mut p = env.spawn(&[
        "auth",
        "spotify",
        "--client-id",
        "CID",
        "--redirect-uri",
        &redirect,
        "--no-browser",
        "--timeout",
        "20",
    ]);
    p.until(|l| l.contains("/authorize?"));
    p.until(|l| l.starts_with("Full setup guide"));
    let page = http_get(port, "/spotify/callback?code=x&state=evil");
    assert!(page.starts_with("HTTP/1.1 400"), "{page}");
    assert!(page.contains("Spotify authorization failed."));
    let out = p.finish();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("state mismatch"));
}

fn http_get(port: u16, target: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                write!(s, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                return out;
            }
            Err(e) if Instant::now() > deadline => panic!("connect: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn spotify_pasted_redirect_url() {
    let fake = spotify_fake(None);
    // An SSH session: the tunnel hint is shown and no browser is started (the paste is what
    // completes the login).
    let env = Env::new()
        .var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &fake.base)
        .var("SSH_CLIENT", "10.0.0.1 5555 22")
        .var("BROWSER", "/bin/false");
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/spotify/callback");
    let mut p = env.spawn(&[
        "auth",
        "spotify",
        "--client-id",
        "CID",
        "--redirect-uri",
        &redirect,
        "--timeout",
        "20",
    ]);
    let url = p.until(|l| l.contains("/authorize?"));
    let state = query_param(&url, "state");
    p.send(&format!("{redirect}?code=pasted-code&state={state}\n"));
    let out = p.finish();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Remote session detected — SSH tunnel required")
    );
    assert!(
        out.stdout
            .contains(&format!("  ssh -N -L {port}:127.0.0.1:{port} "))
    );
    assert!(!out.stdout.contains("Browser opened") && !out.stdout.contains("Could not open"));
    let form = fake.posts("/api/token")[0].form();
    assert_eq!(form[2], ("code".to_string(), "pasted-code".to_string()));
    assert_eq!(
        env.auth()["providers"]["spotify"]["refresh_token"],
        "spotify-rt-1"
    );
}

#[test]
fn spotify_bad_redirect_and_missing_client_id() {
    let env = Env::new();
    let out = env.run(
        &[
            "auth",
            "spotify",
            "--client-id",
            "CID",
            "--redirect-uri",
            "https://example.com/cb",
            "--no-browser",
        ],
        "",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("must use http://localhost or http://127.0.0.1"),
        "{out:?}"
    );
    let out = env.run(&["auth", "spotify", "--no-browser"], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("Spotify first-time setup"));
    assert!(
        out.stderr.starts_with("Spotify setup cancelled."),
        "{out:?}"
    );
    let redirect = format!("http://127.0.0.1:{}/cb", free_port());
    let out = env.run(
        &[
            "auth",
            "spotify",
            "--no-browser",
            "--timeout",
            "1",
            "--redirect-uri",
            &redirect,
        ],
        "MYCID\n",
    );
    assert!(
        out.stdout
            .contains("Saved HERMES_SPOTIFY_CLIENT_ID to ~/.hermes/.env"),
        "{out:?}"
    );
    assert!(out.stderr.contains("timed out"), "{out:?}");
    let dotenv = std::fs::read_to_string(env.home.join(".env")).unwrap();
    assert_eq!(
        dotenv,
        format!("HERMES_SPOTIFY_CLIENT_ID=MYCID\nHERMES_SPOTIFY_REDIRECT_URI={redirect}\n")
    );
    assert_eq!(mode(&env.home.join(".env")), 0o600);
}

// ---------------------------------------------------------------------------------------
// Google Gemini CLI against the real OAuth server (tests/oauth-server, oidc-provider)
// ---------------------------------------------------------------------------------------

struct OAuthServer {
    child: Child,
    base: String,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OAuthServer {
    fn start(config: &Value) -> OAuthServer {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oauth-server");
        let st = Command::new("bash")
            .arg(format!("{dir}/install.sh"))
            .stdout(Stdio::null())
            .status()
            .expect("bash");
        assert!(
            st.success(),
            "tests/oauth-server/install.sh failed (npm ci)"
        );
        let mut child = Command::new("node")
            .arg(format!("{dir}/server.mjs"))
            .env("OAUTH_SERVER_CONFIG", config.to_string())
            .env("PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim_end()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("oauth server failed to start: {line:?}"))
            .to_string();
        OAuthServer { child, base }
    }
    fn get(&self, path: &str) -> Value {
        let out = Command::new("curl")
            .args(["-sS", "--noproxy", "*", &format!("{}{path}", self.base)])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
    fn count(&self, grant: &str) -> i64 {
        self.get("/__test/log")["counts"][grant]
            .as_i64()
            .unwrap_or(0)
    }
}

const GOOGLE_SCOPES: [&str; 3] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];

fn gemini_server() -> OAuthServer {
    OAuthServer::start(&json!({
        "accessTokenTtl": 300,
        "scopes": ["profile", "email", GOOGLE_SCOPES[0], GOOGLE_SCOPES[1], GOOGLE_SCOPES[2]],
        "accounts": [{"id": "gem-user", "email": "gem-user@example.test"}],
        "clients": [{
            "client_id": "gemini-test", "client_secret": "gemini-secret",
            "token_endpoint_auth_method": "client_secret_post",
            "redirect_uris": ["http://127.0.0.1/oauth2callback"],
            "grant_types": ["authorization_code", "refresh_token"]
        }]
    }))
}

fn gemini_env(srv: &OAuthServer) -> Env {
    Env::new()
        .var(
            "HERMES_GEMINI_OAUTH_AUTHORIZE_URL",
            &format!("{}/auth", srv.base),
        )
        .var(
            "HERMES_GEMINI_OAUTH_TOKEN_URL",
            &format!("{}/token", srv.base),
        )
        .var("HERMES_GEMINI_CLIENT_ID", "gemini-test")
        .var("HERMES_GEMINI_CLIENT_SECRET", "gemini-secret")
        .var("NO_PROXY", "127.0.0.1,localhost")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn gemini_loopback_login_then_refresh_rotation() {
    let srv = gemini_server();
    let env = gemini_env(&srv);
    let browser = browser_script(&env);
    let env = env.var("BROWSER", &browser);
    let out = env.run(&["auth", "add", "google-gemini-cli", "--timeout", "30"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Added google-gemini-cli OAuth credential #1: \"gem-user@example.test\""),
        "{out:?}"
    );
    let url = out.stdout.lines().find(|l| l.contains("/auth?")).unwrap();
    assert_eq!(query_param(url, "code_challenge_method"), "S256");
    assert_eq!(query_param(url, "access_type"), "offline");
    assert!(query_param(url, "redirect_uri").starts_with("http://127.0.0.1:"));
    assert_eq!(srv.count("authorization_code"), 1);

    let file = env.home.join("auth/google_oauth.json");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&env.home.join("auth")), 0o700);
    let creds = read_json(&file);
    assert_eq!(creds["email"], "gem-user@example.test");
    let rt1 = creds["refresh"]
        .as_str()
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .to_string();
    assert!(!rt1.is_empty());
    let entry = env.auth()["credential_pool"]["google-gemini-cli"][0].clone();
    assert_eq!(entry["source"], "manual:google_pkce");
    assert_eq!(entry["refresh_token"], rt1.as_str());
    assert_eq!(entry["access_token"], creds["access"]);

    // Fresh token: status spends nothing.
    let out = env.run(&["auth", "status", "google-gemini-cli"], "");
    assert!(
        out.stdout.starts_with("google-gemini-cli: logged in\n"),
        "{out:?}"
    );
    assert_eq!(srv.count("refresh_token"), 0);

    // Expire it: status refreshes once, the rotated refresh token lands in both places.
    let mut c = creds.clone();
    c["expires"] = json!(now_ms() - 1000);
    std::fs::write(&file, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = env.run(&["auth", "status", "google-gemini-cli"], "");
    assert!(
        out.stdout.starts_with("google-gemini-cli: logged in\n"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("refresh_error"), "{out:?}");
    assert_eq!(srv.count("refresh_token"), 1);
    let creds2 = read_json(&file);
    let rt2 = creds2["refresh"]
        .as_str()
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(rt2, rt1, "the server rotates refresh tokens");
    assert!(creds2["expires"].as_i64().unwrap() > now_ms() + 200_000);
    let entry = env.auth()["credential_pool"]["google-gemini-cli"][0].clone();
    assert_eq!(entry["refresh_token"], rt2.as_str());
    assert_eq!(entry["access_token"], creds2["access"]);
    // And again: nothing to do.
    env.run(&["auth", "status", "google-gemini-cli"], "");
    assert_eq!(srv.count("refresh_token"), 1);

    // A replayed (dead) refresh token logs out and deletes the file.
    let mut c = creds2.clone();
    c["expires"] = json!(now_ms() - 1000);
    c["refresh"] = json!(format!("{rt1}||"));
    std::fs::write(&file, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = env.run(&["auth", "status", "google-gemini-cli"], "");
    assert!(
        out.stdout
            .starts_with("google-gemini-cli: logged out (Google Gemini token refresh failed"),
        "{out:?}"
    );
    assert!(!file.exists());
}

#[test]
fn gemini_wrong_state_is_rejected() {
    let srv = gemini_server();
    let env = gemini_env(&srv);
    // A "browser" that tampers with the state before following the redirects.
    let path = env.user.join("evil-browser.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nexec curl -sSL -o /dev/null \"$(printf %s \"$1\" | sed 's/state=[^&]*/state=evil/')\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = env.var("BROWSER", &path.display().to_string());
    let out = env.run(&["auth", "add", "google-gemini-cli", "--timeout", "30"], "");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("Google Gemini authorization failed: state mismatch."),
        "{out:?}"
    );
    assert_eq!(srv.count("authorization_code"), 0);
    assert!(!env.home.join("auth/google_oauth.json").exists());
}

/// Follows redirects like a browser on another machine would, stopping at the loopback.
fn follow_to(url: &str, stop_prefix: &str) -> String {
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().display().to_string();
    let mut url = url.to_string();
    for _ in 0..10 {
        if url.starts_with(stop_prefix) {
            return url;
        }
        let out = Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-b",
                &jar,
                "-c",
                &jar,
                "-o",
                "/dev/null",
                "-w",
                "%{redirect_url}",
                &url,
            ])
            .output()
            .unwrap();
        url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    panic!("no redirect to {stop_prefix}");
}

#[test]
fn gemini_pasted_redirect_url_with_no_browser() {
    let srv = gemini_server();
    let env = gemini_env(&srv);
    // A previous login of the same account with Cloud project fields: they are kept.
    let creds = env.home.join("auth/google_oauth.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        json!({"refresh": "old|proj-1|managed-1", "access": "old", "expires": 0,
               "email": "gem-user@example.test"})
        .to_string(),
    )
    .unwrap();
    let mut p = env.spawn(&[
        "auth",
        "add",
        "google-gemini-cli",
        "--no-browser",
        "--timeout",
        "30",
    ]);
    let url = p.until(|l| l.contains("/auth?"));
    let redirect = query_param(&url, "redirect_uri");
    let landed = follow_to(url.trim(), &redirect);
    assert!(landed.contains("code="));
    p.send(&format!("{landed}\n"));
    let out = p.finish();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("Added google-gemini-cli OAuth credential #1")
    );
    assert_eq!(srv.count("authorization_code"), 1);
    let file: Value = serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    let packed = file["refresh"].as_str().unwrap();
    assert!(packed.ends_with("|proj-1|managed-1"), "{packed}");
    assert!(!packed.starts_with("old|"));
}

// ---------------------------------------------------------------------------------------
// Qwen (import from ~/.qwen/oauth_creds.json)
// ---------------------------------------------------------------------------------------

fn write_qwen(env: &Env, expiry_ms: i64) -> PathBuf {
    let dir = env.user.join(".qwen");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("oauth_creds.json");
    std::fs::write(
        &p,
        json!({"access_token": "qwen-at-1", "refresh_token": "qwen-rt-1", "token_type": "Bearer",
               "resource_url": "portal.qwen.ai", "expiry_date": expiry_ms, "extra": 1})
        .to_string(),
    )
    .unwrap();
    p
}

#[test]
fn qwen_status_and_add() {
    let env = Env::new();
    let out = env.run(&["auth", "status", "qwen-oauth"], "");
    assert_eq!(
        out.stdout,
        "qwen-oauth: logged out (Qwen CLI credentials not found. Run 'qwen auth qwen-oauth' first.)\n"
    );
    let out = env.run(&["auth", "add", "qwen-oauth"], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("Qwen CLI credentials not found."),
        "{out:?}"
    );

    write_qwen(&env, now_ms() + 3_600_000);
    let out = env.run(&["auth", "status", "qwen-oauth"], "");
    assert_eq!(out.stdout, "qwen-oauth: logged in\n");
    let out = env.run(&["auth", "add", "qwen-oauth"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "Added qwen-oauth OAuth credential #2: \"qwen-oauth-oauth-2\"\n"
    );
    let auth = env.auth();
    assert_eq!(
        auth["providers"]["qwen-oauth"],
        json!({"base_url": "https://portal.qwen.ai/v1"})
    );
    assert_eq!(auth["active_provider"], "qwen-oauth");
    let pool = auth["credential_pool"]["qwen-oauth"]
        .as_array()
        .unwrap()
        .clone();
    let manual = pool
        .iter()
        .find(|e| e["source"] == "manual:qwen_cli")
        .unwrap();
    assert_eq!(manual["access_token"], "qwen-at-1");
    assert!(manual.get("refresh_token").is_none_or(Value::is_null));
}

#[test]
fn qwen_refresh_rewrites_the_cli_file() {
    let fake = Fake::start(|_| {
        (
            200,
            json!({"access_token": "qwen-at-2", "refresh_token": "qwen-rt-2", "expires_in": 3600})
                .to_string(),
        )
    });
    let env = Env::new().var(
        "HERMES_QWEN_OAUTH_TOKEN_URL",
        &format!("{}/api/v1/oauth2/token", fake.base),
    );
    let path = write_qwen(&env, now_ms() + 60_000);
    let out = env.run(&["auth", "status", "qwen-oauth"], "");
    assert_eq!(out.stdout, "qwen-oauth: logged in\n", "{out:?}");
    let posts = fake.posts("/api/v1/oauth2/token");
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].form(),
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", "qwen-rt-1"),
            ("client_id", "f0304373b74a44d2b584a3fb70ca9e56")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expiry_date",
            "refresh_token",
            "resource_url",
            "token_type"
        ]
    );
    assert_eq!(v["access_token"], "qwen-at-2");
    assert_eq!(v["refresh_token"], "qwen-rt-2");
    assert!(v["expiry_date"].as_i64().unwrap() > now_ms() + 3_500_000);
    // Fresh now: no second request.
    env.run(&["auth", "status", "qwen-oauth"], "");
    assert_eq!(fake.posts("/api/v1/oauth2/token").len(), 1);
}

#[test]
fn qwen_unreachable_refresh_keeps_the_login() {
    let env = Env::new().var("HERMES_QWEN_OAUTH_TOKEN_URL", "http://127.0.0.1:9/token");
    write_qwen(&env, now_ms() + 60_000);
    let out = env.run(&["auth", "status", "qwen-oauth"], "");
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .starts_with("qwen-oauth: logged in\n  refresh_error: Qwen OAuth refresh failed: "),
        "{out:?}"
    );
}

/// `providers.spotify` as a login left it, with an access token expiring at `expires_at`.
fn spotify_state(accounts: &str, expires_at: &str) -> Value {
    json!({"version": 1, "providers": {"spotify": {
        "client_id": "CID", "redirect_uri": "http://127.0.0.1:43827/spotify/callback",
        "accounts_base_url": accounts, "api_base_url": "https://api.spotify.com/v1",
        "scope": "user-read-playback-state", "granted_scope": "user-read-playback-state",
        "token_type": "Bearer", "access_token": "spotify-at-1", "refresh_token": "spotify-rt-1",
        "obtained_at": "2020-01-01T00:00:00.000000+00:00", "expires_at": expires_at,
        "expires_in": 3600, "auth_type": "oauth_pkce"}}})
}

#[test]
fn spotify_status_refreshes_an_expired_token_once() {
    let fake = spotify_fake(None);
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &fake.base);
    env.write_auth(&spotify_state(
        &fake.base,
        "2020-01-01T01:00:00.000000+00:00",
    ));
    let out = env.run(&["auth", "status", "spotify"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("spotify: logged in\n"), "{out:?}");
    assert!(!out.stdout.contains("refresh_error"), "{out:?}");
    let posts = fake.posts("/api/token");
    assert_eq!(posts.len(), 1);
    let form: HashMap<String, String> = posts[0].form().into_iter().collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "spotify-rt-1");
    assert_eq!(form["client_id"], "CID");
    let sp = env.auth()["providers"]["spotify"].clone();
    assert_eq!(sp["access_token"], "spotify-at-2");
    assert_eq!(sp["refresh_token"], "spotify-rt-1");
    // Now usable: a second status sends nothing.
    let out = env.run(&["auth", "status", "spotify"], "");
    assert!(out.stdout.starts_with("spotify: logged in\n"), "{out:?}");
    assert_eq!(fake.posts("/api/token").len(), 1);
    assert!(!out.stdout.contains("spotify-at") && !out.stderr.contains("spotify-at"));
}

#[test]
fn spotify_status_rejected_refresh_logs_out_and_unreachable_keeps_login() {
    let fake = Fake::start(|_| (400, r#"{"error":"invalid_grant"}"#.into()));
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &fake.base);
    env.write_auth(&spotify_state(
        &fake.base,
        "2020-01-01T01:00:00.000000+00:00",
    ));
    let out = env.run(&["auth", "status", "spotify"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("spotify: logged out (Spotify token refresh failed."),
        "{out:?}"
    );
    let sp = env.auth()["providers"]["spotify"].clone();
    assert!(sp.get("refresh_token").is_none() && sp.get("access_token").is_none());
    assert_eq!(sp["last_auth_error"]["relogin_required"], true);
    // Quarantined: no further refresh request.
    env.run(&["auth", "status", "spotify"], "");
    assert_eq!(fake.posts("/api/token").len(), 1);

    let dead = format!("http://127.0.0.1:{}", free_port());
    let env = Env::new().var("HERMES_SPOTIFY_ACCOUNTS_BASE_URL", &dead);
    env.write_auth(&spotify_state(&dead, "2020-01-01T01:00:00.000000+00:00"));
    let out = env.run(&["auth", "status", "spotify"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("spotify: logged in\n"), "{out:?}");
    assert!(
        out.stdout
            .contains("  refresh_error: Spotify token refresh failed"),
        "{out:?}"
    );
    assert_eq!(
        env.auth()["providers"]["spotify"]["refresh_token"],
        "spotify-rt-1"
    );
}

#[test]
fn gemini_remove_deletes_the_credential_file_it_backs() {
    let env = Env::new();
    let entry = |id: &str, rt: &str| {
        json!({"id": id, "label": format!("{id}@example.test"), "auth_type": "oauth",
               "priority": 0, "source": "manual:google_pkce", "access_token": format!("at-{id}"),
               "refresh_token": rt, "expires_at_ms": 4102444800000i64,
               "base_url": "https://cloudcode-pa.googleapis.com"})
    };
    env.write_auth(&json!({"version": 1, "providers": {}, "credential_pool": {
        "google-gemini-cli": [entry("a", "rt-a"), entry("b", "rt-b")]}}));
    let creds = env.home.join("auth/google_oauth.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        r#"{"refresh":"rt-b|proj|managed","access":"at-b","expires":4102444800000}"#,
    )
    .unwrap();
    // The file backs entry b, not a: removing a keeps it.
    let out = env.run(&["auth", "remove", "google-gemini-cli", "1"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(creds.exists(), "{out:?}");
    assert!(!out.stdout.contains("Cleared"), "{out:?}");
    let out = env.run(&["auth", "remove", "google-gemini-cli", "1"], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!creds.exists(), "{out:?}");
    assert!(
        out.stdout
            .contains("Cleared Hermes Google Gemini OAuth credentials"),
        "{out:?}"
    );
    let out = env.run(&["auth", "status", "google-gemini-cli"], "");
    assert_eq!(out.stdout, "google-gemini-cli: logged out\n", "{out:?}");
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
fn anthropic_authorize_url_is_overridable() {
    let env = Env::new().var(
        "HERMES_ANTHROPIC_OAUTH_AUTHORIZE_URL",
        "http://127.0.0.1:9/oauth/authorize",
    );
    let out = env.run(&["auth", "add", "anthropic", "--no-browser"], "\n");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l
            .trim_start()
            .starts_with("http://127.0.0.1:9/oauth/authorize?code=true&client_id=")),
        "{out:?}"
    );
    assert!(!out.stdout.contains("https://claude.ai/"), "{out:?}");
}
