//! The state file of a running proxy: `$HERMES_HOME/proxy/<pid>.json` (0600), rewritten at
//! most once a second while something changed, removed on exit. It never holds a secret.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::home::Home;
use crate::store::atomic;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProxyState {
    pub pid: u32,
    /// `http://127.0.0.1:8645/v1`
    pub address: String,
    /// The `--provider` name.
    pub provider: String,
    pub upstream: String,
    /// Epoch seconds.
    pub started_at: f64,
    pub requests_served: u64,
    /// Label of the credential used last (never the secret).
    pub credential_label: Option<String>,
}

pub fn dir(home: &Home) -> PathBuf {
    home.dir().join("proxy")
}

pub fn path(home: &Home, pid: u32) -> PathBuf {
    dir(home).join(format!("{pid}.json"))
}

pub fn write(home: &Home, s: &ProxyState) -> Result<(), crate::store::StoreError> {
    atomic::ensure_private_dir(&dir(home))?;
    let mut text = serde_json::to_string_pretty(s).expect("state serializes");
    text.push('\n');
    atomic::write_atomic(&path(home, s.pid), text.as_bytes(), 0o600)
}

pub fn remove(home: &Home, pid: u32) {
    let _ = std::fs::remove_file(path(home, pid));
}

fn alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(p, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Running proxies, oldest first. Files of processes that are gone are ignored.
pub fn running(home: &Home) -> Vec<ProxyState> {
    let Ok(rd) = std::fs::read_dir(dir(home)) else {
        return vec![];
    };
    let mut out: Vec<ProxyState> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<ProxyState>(&t).ok())
        .filter(|s| alive(s.pid))
        .collect();
    out.sort_by(|a, b| a.started_at.total_cmp(&b.started_at));
    out
}
