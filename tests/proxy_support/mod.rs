//! Shared harness for the proxy tests: a scriptable fake upstream (axum on 127.0.0.1 that
//! counts accepted connections and records every request) and the real `hermes` binary.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Rec {
    pub method: String,
    /// Path and query exactly as received.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Rec {
    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A scripted answer for the next upstream request.
#[derive(Debug, Clone)]
pub enum Scripted {
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Sends the head after this delay.
    DelayHead(Duration),
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted::Status {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({"error": {"message": format!("scripted {status}"), "type": "x", "code": status}})
                .to_string()
                .into_bytes(),
        }
    }
    pub fn with_header(mut self, n: &str, v: &str) -> Self {
        if let Scripted::Status { headers, .. } = &mut self {
            headers.push((n.into(), v.into()));
        }
        self
    }
}

#[derive(Default)]
pub struct FakeState {
    pub conns: AtomicUsize,
    pub log: Mutex<Vec<Rec>>,
    pub script: Mutex<VecDeque<Scripted>>,
    pub release: tokio::sync::Notify,
    pub stream_dropped: AtomicBool,
    pub ticks_sent: AtomicUsize,
    /// Fake Nous portal: the refresh token it accepts next, and how many it issued.
    pub portal_rt: Mutex<String>,
    pub portal_serial: AtomicUsize,
}

/// An unsigned JWT with the Nous invoke scope.
pub fn invoke_jwt(tag: &str, exp: i64) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig",
        e.encode(br#"{"alg":"none"}"#),
        e.encode(json!({"sub": tag, "scope": "inference:invoke", "exp": exp}).to_string())
    )
}

pub fn epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `POST /api/oauth/token` (refresh grant, `x-nous-refresh-token`, single-use rotation).
fn portal_token(st: &FakeState, rec: &Rec) -> Response {
    let presented = rec.header("x-nous-refresh-token").join("");
    let mut rt = st.portal_rt.lock().unwrap();
    let json_resp = |status: u16, v: Value| {
        let mut r = Response::new(Body::from(v.to_string()));
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        r
    };
    if presented != *rt {
        return json_resp(
            400,
            json!({"error": "invalid_grant", "error_description": "Refresh token reuse detected"}),
        );
    }
    let n = st.portal_serial.fetch_add(1, Ordering::SeqCst) + 1;
    *rt = format!("rt-{n}");
    json_resp(
        200,
        json!({
            "access_token": invoke_jwt(&format!("fresh-{n}"), epoch() + 3600),
            "refresh_token": *rt,
            "token_type": "Bearer",
            "scope": "inference:invoke",
            "expires_in": 3600,
        }),
    )
}

pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
}

impl Fake {
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
    pub fn log(&self) -> Vec<Rec> {
        self.state.log.lock().unwrap().clone()
    }
    pub fn push(&self, s: Scripted) {
        self.state.script.lock().unwrap().push_back(s);
    }
    pub fn conns(&self) -> usize {
        self.state.conns.load(Ordering::SeqCst)
    }
}

struct CountingListener {
    inner: tokio::net::TcpListener,
    state: Arc<FakeState>,
}

impl axum::serve::Listener for CountingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((s, a)) = self.inner.accept().await {
                self.state.conns.fetch_add(1, Ordering::SeqCst);
                return (s, a);
            }
        }
    }
    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

struct DropFlag(Arc<FakeState>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.stream_dropped.store(true, Ordering::SeqCst);
    }
}

async fn fake_handler(State(st): State<Arc<FakeState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 20_000_000)
        .await
        .unwrap_or_default();
    let rec = Rec {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body: body.clone(),
    };
    let auth = rec.header("authorization").join(",");
    if parts.uri.path() == "/api/oauth/token" {
        let r = portal_token(&st, &rec);
        st.log.lock().unwrap().push(rec);
        return r;
    }
    if parts.uri.path().starts_with("/api/") {
        st.log.lock().unwrap().push(rec);
        let mut r = Response::new(Body::from("not found"));
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        return r;
    }
    st.log.lock().unwrap().push(rec);
    let scripted = st.script.lock().unwrap().pop_front();
    match scripted {
        Some(Scripted::Status {
            status,
            headers,
            body,
        }) => {
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            for (n, v) in headers {
                r.headers_mut().append(
                    http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            return r;
        }
        Some(Scripted::DelayHead(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let text = String::from_utf8_lossy(&body);
    if text.contains("\"slowstream\"") {
        let guard = DropFlag(st.clone());
        let st2 = st.clone();
        let stream = futures_util::stream::unfold((0usize, guard), move |(i, g)| {
            let st2 = st2.clone();
            async move {
                if i >= 200 {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                st2.ticks_sent.fetch_add(1, Ordering::SeqCst);
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(format!("data: {{\"tick\":{i}}}\n\n"))),
                    (i + 1, g),
                ))
            }
        });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        return r;
    }
    if text.contains("\"stream\":true") {
        let st2 = st.clone();
        let stream = futures_util::stream::unfold(0usize, move |i| {
            let st2 = st2.clone();
            async move {
                match i {
                    0 => Some((
                        Ok::<_, std::io::Error>(Bytes::from("data: {\"n\":0}\n\n")),
                        1,
                    )),
                    1 => {
                        st2.release.notified().await;
                        Some((Ok(Bytes::from("data: {\"n\":1}\n\n")), 2))
                    }
                    2 => Some((Ok(Bytes::from("data: [DONE]\n\n")), 3)),
                    _ => None,
                }
            }
        });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        return r;
    }
    let mut r = Response::new(Body::from(
        json!({"ok": true, "path": parts.uri.path(), "auth": auth}).to_string(),
    ));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r.headers_mut().append("set-cookie", "a=1".parse().unwrap());
    r.headers_mut().append("set-cookie", "b=2".parse().unwrap());
    r
}

pub async fn fake() -> Fake {
    let state = Arc::new(FakeState::default());
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(fake_handler)
        .with_state(state.clone());
    let l = CountingListener {
        inner,
        state: state.clone(),
    };
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Fake { addr, state }
}

/// A temp HERMES_HOME (and HOME).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn home(&self) -> &Path {
        self.dir.path()
    }
    pub fn auth_json(&self) -> PathBuf {
        self.home().join("auth.json")
    }
    pub fn read_auth(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.auth_json()).unwrap()).unwrap()
    }
    /// Writes `credential_pool.<key>` with API-key entries `(label, key)` pointing at `base`.
    pub fn seed(&self, key: &str, base: &str, entries: &[(&str, &str)]) {
        let list: Vec<Value> = entries
            .iter()
            .enumerate()
            .map(|(i, (label, k))| {
                json!({
                    "id": format!("id{i}"),
                    "label": label,
                    "auth_type": "api_key",
                    "priority": i,
                    "source": "manual",
                    "access_token": k,
                    "base_url": base,
                    "request_count": 0
                })
            })
            .collect();
        let doc = json!({"version": 1, "providers": {}, "credential_pool": {key: list}});
        std::fs::write(
            self.auth_json(),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
    }
    pub fn entry(&self, key: &str, label: &str) -> Value {
        self.read_auth()["credential_pool"][key]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["label"] == label)
            .cloned()
            .unwrap()
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hermes"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("HERMES_HOME", self.home());
        c
    }
}

pub struct Running {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub rest: Arc<Mutex<String>>,
}

impl Running {
    pub fn v1(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "proxy did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hermes proxy start --port 0 <args>` and waits for the banner.
pub fn start(env: &Env, args: &[&str], extra_env: &[(&str, &str)]) -> Running {
    let mut c = env.cmd();
    c.args(["proxy", "start", "--port", "0"]).args(args);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "proxy exited before listening: {seen}");
        seen.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("Listening on:") {
            break u.trim().to_string();
        }
    };
    let rest = Arc::new(Mutex::new(String::new()));
    let r2 = rest.clone();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = reader.read_to_string(&mut s);
        r2.lock().unwrap().push_str(&s);
    });
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    Running {
        child,
        url,
        addr,
        rest,
    }
}

/// Sends raw bytes and returns the whole answer (the request should say `Connection: close`).
pub fn raw(addr: SocketAddr, req: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// Polls `f` until it is true (or fails after 10 s).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
