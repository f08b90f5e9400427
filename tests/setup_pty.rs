//! `hermes setup` on a pseudo-terminal: the wizard (existing install detected), `setup pool`
//! and `setup model`.

#[path = "model_support/mod.rs"]
mod support;

use support::pty::{ENTER, esc, finish, send, spawn};
use support::{Env, exp};

fn configured_with_deepseek(e: &Env) {
    e.write(".env", "DEEPSEEK_API_KEY=sk-ds-1\n");
    e.write(
        "config.yaml",
        "# keep me\nmodel:\n  provider: deepseek\n  default: deepseek-chat\n",
    );
}

#[test]
fn bare_setup_detects_an_existing_install_and_runs_both_steps() {
    let e = Env::new();
    configured_with_deepseek(&e);
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("setup");
        c
    });
    exp(&mut p, "Hermes Agent Setup Wizard");
    exp(&mut p, "✓ You already have Hermes configured:");
    exp(&mut p, "Provider: deepseek");
    exp(&mut p, "Model:    deepseek-chat");
    exp(&mut p, "◆ Inference Provider");
    exp(&mut p, "❯ DeepSeek");
    // Esc keeps the provider and moves on to the rotation step.
    esc(&mut p);
    exp(&mut p, "No change.");
    exp(&mut p, "◆ Credential Rotation");
    exp(&mut p, "❯ deepseek  (1 credential, strategy: fill_first)");
    send(&mut p, ENTER);
    exp(&mut p, "Rotation strategy for deepseek:");
    send(&mut p, "j");
    send(&mut p, ENTER);
    exp(&mut p, "Set deepseek strategy to: round_robin");
    exp(&mut p, "strategy: round_robin");
    esc(&mut p);
    exp(&mut p, "✓ Credential rotation configuration complete!");
    exp(&mut p, "✓ Setup complete!");
    assert_eq!(finish(p).0, 0);
    let text = e.read("config.yaml");
    assert!(
        text.starts_with("# keep me\nmodel:\n  provider: deepseek\n"),
        "{text}"
    );
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg["credential_pool_strategies"]["deepseek"], "round_robin");
}

#[test]
fn bare_setup_on_a_fresh_home_is_a_first_run() {
    let e = Env::new();
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("setup");
        c
    });
    exp(
        &mut p,
        "No existing configuration found — running first-time setup.",
    );
    exp(&mut p, "❯ Nous Portal");
    p.send_control('c').unwrap();
    exp(&mut p, "No change.");
    exp(&mut p, "No credentials yet");
    assert_eq!(finish(p).0, 0);
    assert!(!e.path("config.yaml").exists());
}

#[test]
fn setup_pool_sets_a_strategy_and_esc_changes_nothing() {
    let e = Env::new();
    configured_with_deepseek(&e);
    let before = e.snapshot();
    let mut p = spawn({
        let mut c = e.cmd();
        c.args(["setup", "pool"]);
        c
    });
    exp(&mut p, "Hermes Setup — Credential Rotation");
    exp(&mut p, "❯ deepseek");
    send(&mut p, ENTER);
    exp(&mut p, "Rotation strategy for deepseek:");
    esc(&mut p);
    exp(&mut p, "No change.");
    exp(&mut p, "Select a provider to configure rotation for:");
    esc(&mut p);
    exp(&mut p, "Credential rotation left as it was.");
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.snapshot(), before);

    let mut p = spawn({
        let mut c = e.cmd();
        c.args(["setup", "pool"]);
        c
    });
    exp(&mut p, "❯ deepseek");
    send(&mut p, ENTER);
    exp(&mut p, "Rotation strategy for deepseek:");
    // least_used is the third row.
    send(&mut p, "jj");
    send(&mut p, ENTER);
    exp(&mut p, "Set deepseek strategy to: least_used");
    send(&mut p, "done");
    exp(&mut p, "Search: done");
    send(&mut p, ENTER);
    assert_eq!(finish(p).0, 0);
    assert!(e.read("config.yaml").contains("deepseek: least_used"));
}

#[test]
fn setup_model_runs_the_picker_with_the_wizard_framing() {
    let e = Env::new();
    let mut p = spawn({
        let mut c = e.cmd();
        c.args(["setup", "model"]);
        c
    });
    exp(&mut p, "Hermes Setup — Model & Provider");
    exp(&mut p, "◆ Inference Provider");
    exp(&mut p, "Choose how to connect to your main chat model.");
    exp(&mut p, "Current model:    (not set)");
    send(&mut p, "leave");
    exp(&mut p, "Search: leave");
    send(&mut p, ENTER);
    exp(&mut p, "No change.");
    exp(&mut p, "Model & Provider left as it was.");
    assert_eq!(finish(p).0, 0);
}

#[test]
fn a_damaged_auth_json_is_reported_before_any_question() {
    for section in [None, Some("pool"), Some("model")] {
        let e = Env::new();
        e.write("auth.json", "{\"version\": 1, \"providers\": {");
        let before = e.snapshot();
        let mut c = e.cmd();
        c.arg("setup").args(section);
        let mut p = spawn(c);
        let shown = exp(&mut p, "auth.json is not valid JSON");
        assert!(!shown.contains("Select"), "{section:?}: {shown}");
        assert!(
            !shown.contains("No credentials yet"),
            "{section:?}: {shown}"
        );
        assert_eq!(finish(p).0, 1, "{section:?}");
        assert_eq!(e.snapshot(), before, "{section:?}");
    }
}
