//! Bare `hermes auth` on a real pseudo-terminal: arrow keys, fuzzy provider pick, hidden key entry.

use std::path::Path;
use std::process::Command;

use rexpect::session::{PtySession, spawn_with_options};

const DOWN: &str = "\x1b[B";
const ESC: &str = "\x1b";

fn hermes(home: &Path, user: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hermes"));
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HERMES_HOME", home)
        .env("HOME", user)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    c
}

fn spawn_menu(home: &Path, user: &Path) -> PtySession {
    let mut c = hermes(home, user);
    c.arg("auth");
    spawn_with_options(
        c,
        rexpect::reader::Options::new()
            .timeout_ms(Some(15_000))
            .strip_ansi_escape_codes(true),
    )
    .expect("spawn hermes auth on a pty")
}

/// Waits for `text`, then gives the menu time to switch the terminal to raw mode (switching
/// flushes pending input, so keys sent earlier would be lost).
fn ready(p: &mut PtySession, text: &str) -> String {
    let out = p.exp_string(text).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    out
}

/// Sends keys now (rexpect buffers writes until flushed).
fn key(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("hermes");
    let user = t.path().join("user");
    std::fs::create_dir_all(&user).unwrap();
    (t, home, user)
}

#[test]
fn menu_sets_a_rotation_strategy() {
    let (_t, home, user) = setup();
    let out = hermes(&home, &user)
        .args([
            "auth",
            "add",
            "openrouter",
            "--api-key",
            "sk-or-menu-0000000001",
            "--label",
            "a",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut p = spawn_menu(&home, &user);
    p.exp_string("openrouter (1 credentials):").unwrap();
    ready(&mut p, "What would you like to do?");
    for _ in 0..3 {
        key(&mut p, DOWN);
    }
    key(&mut p, "\r");
    ready(&mut p, "Provider to set strategy for");
    key(&mut p, "openrouter");
    std::thread::sleep(std::time::Duration::from_millis(300));
    key(&mut p, "\r");
    ready(&mut p, "Strategy for openrouter (current: fill_first)");
    key(&mut p, DOWN);
    key(&mut p, "\r");
    p.exp_string("Set openrouter strategy to: round_robin")
        .unwrap();
    p.exp_eof().unwrap();
    let cfg = std::fs::read_to_string(home.join("config.yaml")).unwrap();
    assert!(cfg.contains("openrouter: round_robin"), "{cfg}");
}

#[test]
fn menu_adds_a_key_without_echoing_it() {
    let (_t, home, user) = setup();
    let mut p = spawn_menu(&home, &user);
    ready(&mut p, "What would you like to do?");
    key(&mut p, "\r");
    ready(&mut p, "Provider to add credential for");
    key(&mut p, "deepseek");
    std::thread::sleep(std::time::Duration::from_millis(300));
    key(&mut p, "\r");
    ready(&mut p, "Label / account name");
    key(&mut p, "work\r");
    ready(&mut p, "Paste your API key:");
    key(&mut p, "sk-ds-pty-secret-000001\r");
    let rest = p
        .exp_string("Added deepseek credential #1: \"work\"")
        .unwrap();
    assert!(
        !rest.contains("sk-ds-pty-secret"),
        "the key was echoed: {rest}"
    );
    p.exp_eof().unwrap();
    let store = std::fs::read_to_string(home.join("auth.json")).unwrap();
    assert!(store.contains("sk-ds-pty-secret-000001"));
}

#[test]
fn escape_leaves_everything_unchanged() {
    let (_t, home, user) = setup();
    let mut p = spawn_menu(&home, &user);
    ready(&mut p, "What would you like to do?");
    key(&mut p, ESC);
    p.exp_eof().unwrap();
    assert!(!home.join("auth.json").exists());
    assert!(!home.join("config.yaml").exists());
}
