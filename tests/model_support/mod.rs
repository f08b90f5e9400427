//! Shared by the `hermes model` / `hermes setup` tests: a temp home, the binary, and a local
//! fake OpenAI-compatible `GET /v1/models` server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

pub struct Env {
    pub home: tempfile::TempDir,
    pub user: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            user: tempfile::tempdir().unwrap(),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
    /// The binary with a clean environment: temp HERMES_HOME and HOME, no provider keys.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hermes"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HERMES_HOME", self.home.path())
            .env("HOME", self.user.path())
            .env("NO_COLOR", "1")
            .env("TERM", "xterm")
            .env("HERMES_MODEL_LIST_TIMEOUT", "3");
        c
    }
    /// Every file under HERMES_HOME with its content (to prove nothing changed).
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, base, out);
                } else if p.file_name().is_some_and(|n| n != "auth.lock") {
                    out.push((
                        p.strip_prefix(base).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap_or_default(),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.home.path(), self.home.path(), &mut out);
        out.sort();
        out
    }
}

/// One request the fake server saw: (path, Authorization header).
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Serves `GET /v1/models` (and `/models`) with `ids`; anything else is 404.
pub struct FakeModels {
    pub url: String,
    pub seen: Seen,
}

impl FakeModels {
    pub fn start(ids: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let body = serde_json::json!({
            "object": "list",
            "data": ids.iter().map(|i| serde_json::json!({"id": i, "object": "model"})).collect::<Vec<_>>(),
        })
        .to_string();
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut auth = None;
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = Some(v.trim().to_string());
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                s2.lock().unwrap().push((path.clone(), auth));
                let (status, b) = if path == "/v1/models" {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "{\"error\":\"not found\"}")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                );
            }
        });
        Self { url, seen }
    }

    pub fn hits(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
}

/// Pseudo-terminal helpers (rexpect).
pub mod pty {
    use std::process::Command;

    use rexpect::process::WaitStatus;
    use rexpect::session::{PtySession, spawn_command};

    pub const ENTER: &str = "\r";
    pub const ESC: &str = "\x1b";

    pub fn spawn(cmd: Command) -> PtySession {
        spawn_command(cmd, Some(20_000)).expect("spawn on a pty")
    }

    /// Sends Esc alone (the reader waits briefly for a following byte before calling it Esc).
    pub fn esc(p: &mut PtySession) {
        p.send(ESC).unwrap();
        p.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    pub fn send(p: &mut PtySession, s: &str) {
        p.send(s).unwrap();
        p.flush().unwrap();
    }

    /// Waits for the end and returns the exit code (signals count as failure).
    pub fn finish(mut p: PtySession) -> (i32, String) {
        let rest = p.exp_eof().unwrap_or_default();
        match p.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => (code, rest),
            other => panic!("process ended by {other:?}; output: {rest}"),
        }
    }
}

/// Waits for `needle` in the output (rexpect decodes bytes one by one, so UTF-8 text is matched
/// in that form). Returns what came before it.
pub fn exp(p: &mut rexpect::session::PtySession, needle: &str) -> String {
    let raw: String = needle.bytes().map(|b| b as char).collect();
    match p.exp_string(&raw) {
        Ok(before) => before,
        Err(e) => {
            let e = format!("{e}");
            let bytes: Vec<u8> = e.chars().map(|c| c as u32 as u8).collect();
            panic!("expected {needle:?}: {}", String::from_utf8_lossy(&bytes))
        }
    }
}
