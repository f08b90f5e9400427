//! The interactive paths on a real pseudo-terminal (rexpect): the hidden key prompt and label
//! prompt of `auth add`, and the arrow-key menu of bare `hermes auth`.

mod common;

use common::Env;
use rexpect::session::{PtySession, spawn_command};

const DOWN: &str = "\x1b[B";
const ENTER: &str = "\r";

/// Waits until `text` is on screen and the prompt has switched the terminal to raw mode
/// (keys sent earlier could be flushed with the line buffer).
fn ready(p: &mut PtySession, text: &str) {
    p.exp_string(text).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
}

/// Sends keys (rexpect buffers `send` until a flush).
fn keys(p: &mut PtySession, k: &str) {
    p.send(k).unwrap();
    p.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
}

fn spawn(e: &Env, args: &[&str]) -> PtySession {
    let mut cmd = e.cmd_inherit_stdio(args);
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    spawn_command(cmd, Some(15_000)).expect("spawn on a pty")
}

#[test]
fn add_prompts_for_label_and_hidden_key_on_a_terminal() {
    let e = Env::new();
    let key = "sk-or-tty-secret-0001";
    let mut p = spawn(&e, &["auth", "add", "openrouter", "--type", "api-key"]);
    p.exp_string("Label (optional, default: api-key-1): ")
        .unwrap();
    p.send_line("from-tty").unwrap();
    p.exp_string("Paste your API key: ").unwrap();
    p.send_line(key).unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        rest.contains("Added openrouter credential #1: \"from-tty\""),
        "{rest}"
    );
    assert!(!rest.contains(key), "the key was echoed: {rest}");
    let entry = &e.pool("openrouter")[0];
    assert_eq!(entry["label"], "from-tty");
    assert_eq!(entry["access_token"], key);
}

#[test]
fn add_on_a_terminal_takes_the_default_label_and_rejects_an_empty_key() {
    let e = Env::new();
    let mut p = spawn(&e, &["auth", "add", "deepseek", "--type", "api-key"]);
    p.exp_string("default: api-key-1): ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Paste your API key: ").unwrap();
    p.send_line("").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("No API key provided."), "{rest}");
    assert!(!e.auth_path().exists());
}

#[test]
fn menu_sets_rotation_strategy_in_config_yaml() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-menu-000001", Some("main"));
    e.write_file("config.yaml", "model:\n  default: some/model\n");
    let mut p = spawn(&e, &["auth"]);
    p.exp_string("Credential Pool Status").unwrap();
    p.exp_string("main").unwrap();
    ready(&mut p, "Exit");
    // Add, Remove, Reset, [Set rotation strategy], Exit
    for _ in 0..3 {
        keys(&mut p, DOWN);
    }
    keys(&mut p, ENTER);
    ready(&mut p, "Provider to set strategy for");
    keys(&mut p, "openrouter");
    ready(&mut p, "OpenRouter");
    keys(&mut p, ENTER);
    ready(&mut p, "least_used");
    // fill_first, [round_robin], …
    keys(&mut p, DOWN);
    keys(&mut p, ENTER);
    p.exp_string("Set openrouter strategy to: round_robin")
        .unwrap();
    p.exp_eof().unwrap();
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(e.home.join("config.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        cfg["credential_pool_strategies"]["openrouter"].as_str(),
        Some("round_robin")
    );
    assert_eq!(cfg["model"]["default"].as_str(), Some("some/model"));
    // The JSON listing reports the strategy now in force.
    let out = e.run(&["auth", "list", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["pools"][0]["strategy"], "round_robin");
}

#[test]
fn menu_exit_and_escape_leave_everything_alone() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-menu-000002", None);
    let before = e.auth_bytes();
    let mut p = spawn(&e, &["auth"]);
    ready(&mut p, "Exit");
    for _ in 0..4 {
        keys(&mut p, DOWN);
    }
    keys(&mut p, ENTER);
    p.exp_eof().unwrap();
    let mut p = spawn(&e, &["auth"]);
    ready(&mut p, "Exit");
    keys(&mut p, "\x1b");
    p.exp_eof().unwrap();
    assert_eq!(e.auth_bytes(), before);
    assert!(!e.home.join("config.yaml").exists());
}
