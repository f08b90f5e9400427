//! Shared helpers for the CLI tests: a hermetic environment (temp `HERMES_HOME` and `HOME`,
//! environment cleared except `PATH`/`LANG`, stdin from /dev/null) around the real binary.
//!
//! Every run through [`Env`] also checks that none of the secrets the test registered
//! (keys it added, keys in fixture stores, env values) appears in stdout or stderr.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_hermes");

/// The fixtures copied from `../shared/fixtures` (written by the Python reference 0.19.0).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Names of every fixture scenario (directories with `expected/captures.json`).
pub fn scenarios() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("expected/captures.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub raw_stdout: Vec<u8>,
    pub raw_stderr: Vec<u8>,
}

impl Out {
    /// Asserts the exit code and returns self for chaining.
    #[track_caller]
    pub fn code(self, want: i32) -> Self {
        assert_eq!(self.code, want, "exit code; output:\n{self}");
        self
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }
    /// The first stderr line (the error message; `hint:` lines follow).
    pub fn first_err_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- rc {} ---\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A hermetic Hermes environment.
pub struct Env {
    pub tmp: TempDir,
    /// `HERMES_HOME`.
    pub home: PathBuf,
    /// `HOME`.
    pub user: PathBuf,
    vars: RefCell<BTreeMap<String, String>>,
    secrets: RefCell<Vec<String>>,
}

impl Env {
    /// Fresh env; `HERMES_HOME` exists (0700) and is empty.
    pub fn new() -> Self {
        let e = Self::without_home_dir();
        std::fs::create_dir(&e.home).unwrap();
        std::fs::set_permissions(&e.home, std::fs::Permissions::from_mode(0o700)).unwrap();
        e
    }

    /// Fresh env whose `HERMES_HOME` does not exist yet.
    pub fn without_home_dir() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-test-")
            .tempdir()
            .unwrap();
        let home = tmp.path().join("hermes");
        let user = tmp.path().join("user");
        std::fs::create_dir(&user).unwrap();
        let mut vars = BTreeMap::new();
        vars.insert("PATH".into(), "/usr/bin:/bin".into());
        vars.insert("LANG".into(), "C.UTF-8".into());
        Self {
            tmp,
            home,
            user,
            vars: RefCell::new(vars),
            secrets: RefCell::new(vec![]),
        }
    }

    /// A copy of fixture `name`'s `home/` with its `env.txt` variables (modes as the reference
    /// left them: dir 0700, auth.json 0600). Every secret in its store and env is registered.
    pub fn fixture(name: &str) -> Self {
        let e = Self::new();
        let src = fixtures_dir().join(name);
        for f in ["auth.json", "config.yaml", "auth.lock"] {
            let p = src.join("home").join(f);
            if p.exists() {
                std::fs::copy(&p, e.home.join(f)).unwrap();
            }
        }
        if e.home.join("auth.json").exists() {
            std::fs::set_permissions(
                e.home.join("auth.json"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        for (k, v) in env_txt(&src.join("env.txt")) {
            if k != "PATH" && k != "LANG" {
                e.secret(&v);
            }
            e.set(&k, &v);
        }
        if let Ok(bytes) = std::fs::read(src.join("home/auth.json"))
            && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        {
            for s in secrets_in(&v) {
                e.secret(&s);
            }
        }
        e
    }

    pub fn set(&self, k: &str, v: &str) -> &Self {
        self.vars.borrow_mut().insert(k.into(), v.into());
        self
    }
    pub fn unset(&self, k: &str) -> &Self {
        self.vars.borrow_mut().remove(k);
        self
    }
    /// Registers a value that must never appear in any output.
    pub fn secret(&self, s: &str) -> &Self {
        if s.len() >= 8 {
            self.secrets.borrow_mut().push(s.to_string());
        }
        self
    }

    /// The command with a cleared environment, stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .envs(self.vars.borrow().iter())
            .env("HERMES_HOME", &self.home)
            .env("HOME", &self.user)
            .current_dir(self.tmp.path())
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.finish(args, self.cmd(args).output().expect("spawn hermes"))
    }

    /// Runs with `input` on stdin (a pipe, so not a terminal).
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn hermes");
        {
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(input);
        }
        self.finish(args, child.wait_with_output().unwrap())
    }

    fn finish(&self, args: &[&str], o: std::process::Output) -> Out {
        let out = Out {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code().unwrap_or(-1),
            raw_stdout: o.stdout,
            raw_stderr: o.stderr,
        };
        for s in self.secrets.borrow().iter() {
            assert!(
                !out.stdout.contains(s.as_str()) && !out.stderr.contains(s.as_str()),
                "a secret ({}…) leaked in the output of {args:?}:\n{out}",
                &s[..4]
            );
        }
        assert!(
            !out.stderr.contains("panicked at") && !out.stderr.contains("RUST_BACKTRACE"),
            "panic in {args:?}:\n{out}"
        );
        out
    }

    /// `hermes auth add <p> --type api-key --api-key <key> [--label L]`, must succeed.
    pub fn add_key(&self, provider: &str, key: &str, label: Option<&str>) -> Out {
        self.secret(key);
        let mut args = vec![
            "auth",
            "add",
            provider,
            "--type",
            "api-key",
            "--api-key",
            key,
        ];
        if let Some(l) = label {
            args.extend(["--label", l]);
        }
        self.run(&args).ok()
    }

    pub fn auth_path(&self) -> PathBuf {
        self.home.join("auth.json")
    }
    pub fn auth_bytes(&self) -> Option<Vec<u8>> {
        std::fs::read(self.auth_path()).ok()
    }
    pub fn auth_json(&self) -> Value {
        serde_json::from_slice(&self.auth_bytes().expect("auth.json exists")).expect("valid JSON")
    }
    pub fn write_auth(&self, v: &Value) {
        let text = serde_json::to_string_pretty(v).unwrap() + "\n";
        for s in secrets_in(v) {
            self.secret(&s);
        }
        std::fs::write(self.auth_path(), text).unwrap();
        std::fs::set_permissions(self.auth_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    /// The entries of `credential_pool[pool]` (empty when absent).
    pub fn pool(&self, pool: &str) -> Vec<Value> {
        self.auth_json()["credential_pool"][pool]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    pub fn write_file(&self, rel: &str, text: &str) {
        std::fs::write(self.home.join(rel), text).unwrap();
    }
    /// Names in `HERMES_HOME` (sorted), empty when it does not exist.
    pub fn home_listing(&self) -> Vec<String> {
        listing(&self.home)
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `NAME=value` lines of a fixture's env.txt.
pub fn env_txt(p: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "agent_key",
    "api_key",
    "id_token",
];

/// Every secret-like string value in a JSON document (token fields, any depth).
pub fn secrets_in(v: &Value) -> Vec<String> {
    let mut out = vec![];
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if SECRET_KEYS.contains(&k.as_str())
                        && let Some(s) = x.as_str()
                        && s.len() >= 8
                    {
                        out.push(s.to_string());
                    }
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// Epoch seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A manual api-key pool entry with the reference's field set (status fields null).
pub fn manual_entry(id: &str, label: &str, priority: i64, key: &str) -> Value {
    serde_json::json!({
        "id": id,
        "label": label,
        "auth_type": "api_key",
        "priority": priority,
        "source": "manual",
        "access_token": key,
        "last_status": null,
        "last_status_at": null,
        "last_error_code": null,
        "last_error_reason": null,
        "last_error_message": null,
        "last_error_reset_at": null,
        "base_url": "https://openrouter.ai/api/v1",
        "request_count": 0
    })
}

/// Every file under `dir`, as paths relative to it (sorted).
pub fn home_listing_recursive(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut v = vec![];
    walk(dir, dir, &mut v);
    v.sort();
    v
}
