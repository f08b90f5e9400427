//! `hermes model` on a pseudo-terminal, driven by real key presses.

#[path = "model_support/mod.rs"]
mod support;

use support::pty::{ENTER, esc, finish, send, spawn};
use support::{Env, FakeModels, exp};

#[test]
fn deepseek_type_to_search_key_saved_to_dotenv_and_model_picked_by_name() {
    let e = Env::new();
    let fake = FakeModels::start(&["deepseek-v4-pro", "deepseek-v4-flash", "deepseek-chat"]);
    let base = format!("{}/v1", fake.url);
    let mut c = e.cmd();
    c.arg("model").env("DEEPSEEK_BASE_URL", &base);
    let mut p = spawn(c);
    exp(&mut p, "Current model:    (not set)");
    exp(&mut p, "Active provider:  none");
    exp(&mut p, "❯ Nous Portal");
    // Typing a letter starts the search in the provider list.
    send(&mut p, "deeps");
    exp(&mut p, "Search: deeps");
    send(&mut p, ENTER);
    exp(&mut p, "No DeepSeek API key configured.");
    exp(&mut p, "DEEPSEEK_API_KEY (or Enter to cancel): ");
    send(&mut p, "sk-typed-1");
    exp(&mut p, "**********");
    send(&mut p, ENTER);
    exp(&mut p, "API key accepted (saved once you pick a model).");
    exp(&mut p, &format!("Base URL [{base}]: "));
    send(&mut p, ENTER);
    exp(&mut p, "Found 3 model(s) from DeepSeek API");
    exp(&mut p, "Select default model:");
    // `/` starts the search in the model list.
    send(&mut p, "/");
    exp(&mut p, "Search: ");
    send(&mut p, "flash");
    exp(&mut p, "Search: flash");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Default model set to: deepseek-v4-flash (via DeepSeek)",
    );
    let (code, _) = finish(p);
    assert_eq!(code, 0);
    assert_eq!(e.read(".env"), "DEEPSEEK_API_KEY=sk-typed-1\n");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["default"], "deepseek-v4-flash");
    assert_eq!(cfg["model"]["provider"], "deepseek");
    // The model list was fetched with the typed key (the pool seeds it as env:DEEPSEEK_API_KEY).
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a)| a.as_deref() == Some("Bearer sk-typed-1"))
    );
    // The pool seeds the key from .env as env:DEEPSEEK_API_KEY.
    let out = e.cmd().args(["auth", "list", "deepseek"]).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("env:DEEPSEEK_API_KEY"), "{out}");
}

#[test]
fn existing_key_keep_and_replace_then_esc_at_the_model_list() {
    let e = Env::new();
    e.write(".env", "OTHER=1\nDEEPSEEK_API_KEY=sk-old-key-123\n");
    e.write(
        "config.yaml",
        "model:\n  provider: deepseek\n  default: deepseek-chat\n",
    );
    // Keep.
    let mut c = e.cmd();
    c.arg("model")
        .env("DEEPSEEK_BASE_URL", "http://127.0.0.1:1/v1");
    let mut p = spawn(c);
    exp(&mut p, "Active provider:  DeepSeek");
    exp(
        &mut p,
        "DeepSeek (V3, R1, coder, direct API)  ✓ key set  ← currently active",
    );
    send(&mut p, ENTER);
    exp(&mut p, "DeepSeek API key: sk-old-k... ✓");
    exp(&mut p, "[K]eep / [R]eplace / [C]lear (default K): ");
    send(&mut p, ENTER);
    exp(&mut p, "Base URL [");
    send(&mut p, ENTER);
    // Unreachable: the built-in list.
    exp(&mut p, "Showing 4 curated models");
    exp(&mut p, "deepseek-chat  ← currently in use");
    esc(&mut p);
    exp(&mut p, "No change.");
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.read(".env"), "OTHER=1\nDEEPSEEK_API_KEY=sk-old-key-123\n");
    // Replace, then Esc at the model list: the new key is not written.
    let mut c = e.cmd();
    c.arg("model")
        .env("DEEPSEEK_BASE_URL", "http://127.0.0.1:1/v1");
    let mut p = spawn(c);
    exp(&mut p, "Select provider:");
    send(&mut p, ENTER);
    exp(&mut p, "(default K): ");
    send(&mut p, "r");
    send(&mut p, ENTER);
    exp(&mut p, "DEEPSEEK_API_KEY (or Enter to cancel): ");
    send(&mut p, "sk-abandoned");
    send(&mut p, ENTER);
    exp(&mut p, "API key updated");
    exp(&mut p, "Base URL [");
    send(&mut p, "http://127.0.0.1:2/v1");
    send(&mut p, ENTER);
    exp(&mut p, "Select default model:");
    p.send_control('c').unwrap();
    exp(&mut p, "No change.");
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.read(".env"), "OTHER=1\nDEEPSEEK_API_KEY=sk-old-key-123\n");
    // Replace.
    let mut c = e.cmd();
    c.arg("model")
        .env("DEEPSEEK_BASE_URL", "http://127.0.0.1:1/v1");
    let mut p = spawn(c);
    exp(&mut p, "Select provider:");
    send(&mut p, ENTER);
    exp(&mut p, "(default K): ");
    send(&mut p, "r");
    send(&mut p, ENTER);
    exp(&mut p, "DEEPSEEK_API_KEY (or Enter to cancel): ");
    send(&mut p, "sk-new-key-456");
    send(&mut p, ENTER);
    exp(&mut p, "API key updated");
    exp(&mut p, "Base URL [");
    send(&mut p, ENTER);
    exp(&mut p, "Select default model:");
    send(&mut p, "reason");
    exp(&mut p, "Search: reason");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Default model set to: deepseek-reasoner (via DeepSeek)",
    );
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.read(".env"), "OTHER=1\nDEEPSEEK_API_KEY=sk-new-key-456\n");
}

#[test]
fn esc_at_the_provider_menu_changes_nothing() {
    let e = Env::new();
    e.write("config.yaml", "# mine\nmodel:\n  default: foo\n");
    let before = e.snapshot();
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "Current model:    foo");
    exp(&mut p, "❯ Nous Portal");
    esc(&mut p);
    exp(&mut p, "No change.");
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.snapshot(), before);
    // A provider detected from an exported key holds the cursor; Esc still changes nothing.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model")
            .env("DEEPSEEK_API_KEY", "sk-envkey-123456789");
        c
    });
    exp(
        &mut p,
        "Active provider:  DeepSeek (detected from DEEPSEEK_API_KEY)",
    );
    exp(&mut p, "❯ DeepSeek (V3, R1, coder, direct API)  ✓ key set");
    esc(&mut p);
    exp(&mut p, "No change.");
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.snapshot(), before);
}

#[test]
fn ctrl_c_in_menus_and_at_the_key_prompt_exits_cleanly() {
    let e = Env::new();
    // Ctrl-C at the provider menu.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "❯ Nous Portal");
    p.send_control('c').unwrap();
    exp(&mut p, "No change.");
    assert_eq!(finish(p).0, 0);
    // Ctrl-C at the masked key prompt, after typing part of a key.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "❯ Nous Portal");
    send(&mut p, "deeps");
    exp(&mut p, "Search: deeps");
    send(&mut p, ENTER);
    exp(&mut p, "DEEPSEEK_API_KEY (or Enter to cancel): ");
    send(&mut p, "sk-half");
    exp(&mut p, "*******");
    p.send_control('c').unwrap();
    exp(&mut p, "Cancelled.");
    let (code, rest) = finish(p);
    assert_eq!(code, 0);
    assert!(!rest.contains("panicked"), "{rest}");
    // Ctrl-D there too.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "❯ Nous Portal");
    send(&mut p, "deeps");
    exp(&mut p, "Search: deeps");
    send(&mut p, ENTER);
    exp(&mut p, "(or Enter to cancel): ");
    p.send_control('d').unwrap();
    exp(&mut p, "Cancelled.");
    assert_eq!(finish(p).0, 0);
    assert!(!e.path(".env").exists());
    assert!(!e.path("config.yaml").exists());
}

#[test]
fn custom_endpoint_verified_saved_once_then_reused_and_removed() {
    let e = Env::new();
    let fake = FakeModels::start(&["llama-3-8b", "qwen2-7b"]);
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "❯ Nous Portal");
    send(&mut p, "enter url");
    exp(&mut p, "Search: enter url");
    send(&mut p, ENTER);
    exp(&mut p, "API base URL [");
    send(&mut p, &fake.url);
    send(&mut p, ENTER);
    exp(&mut p, "API key [optional]: ");
    send(&mut p, "sk-local-1");
    send(&mut p, ENTER);
    exp(&mut p, "Add /v1? [Y/n]: ");
    send(&mut p, ENTER);
    exp(&mut p, &format!("Updated URL: {}/v1", fake.url));
    exp(
        &mut p,
        &format!(
            "Verified endpoint via {}/v1/models (2 model(s) visible)",
            fake.url
        ),
    );
    exp(&mut p, "Select API compatibility mode:");
    send(&mut p, ENTER);
    exp(&mut p, "API mode: auto-detect");
    exp(&mut p, "Select default model:");
    send(&mut p, "qwen");
    exp(&mut p, "Search: qwen");
    send(&mut p, ENTER);
    exp(&mut p, "Context length in tokens");
    send(&mut p, "32k");
    send(&mut p, ENTER);
    exp(&mut p, "Display name [Local (");
    send(&mut p, ENTER);
    exp(&mut p, "Default model set to: qwen2-7b");
    exp(&mut p, "Saved to custom providers as \"Local (");
    assert_eq!(finish(p).0, 0);
    let text = e.read("config.yaml");
    assert_eq!(text.matches("sk-local-1").count(), 1, "{text}");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg["model"]["provider"], "custom");
    assert_eq!(cfg["model"]["default"], "qwen2-7b");
    let entry = &cfg["custom_providers"][0];
    assert_eq!(entry["api_key"], "sk-local-1");
    assert_eq!(entry["models"]["qwen2-7b"]["context_length"], 32000);
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, a)| a.as_deref() == Some("Bearer sk-local-1"))
    );
    let name = entry["name"].as_str().unwrap().to_string();

    // Re-run: the saved row is active; pick another model from it.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, &format!("Active provider:  {name}"));
    exp(&mut p, "— qwen2-7b  ← currently active");
    exp(&mut p, "Remove a saved custom provider");
    send(&mut p, ENTER);
    exp(&mut p, "Current:  qwen2-7b");
    exp(&mut p, "Found 2 model(s):");
    send(&mut p, "llama");
    exp(&mut p, "Search: llama");
    send(&mut p, ENTER);
    exp(&mut p, "✅ Model set to: llama-3-8b");
    assert_eq!(finish(p).0, 0);
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["default"], "llama-3-8b");
    assert_eq!(cfg["custom_providers"][0]["model"], "llama-3-8b");

    // Remove it.
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "Select provider:");
    send(&mut p, "remove");
    exp(&mut p, "Search: remove");
    send(&mut p, ENTER);
    exp(&mut p, "Select provider to remove:");
    send(&mut p, ENTER);
    exp(
        &mut p,
        &format!("✅ Removed \"{name}\" from custom providers."),
    );
    assert_eq!(finish(p).0, 0);
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["custom_providers"].as_sequence().unwrap().len(), 0);
    assert!(cfg["model"]["provider"].is_null());
}

#[test]
fn anthropic_api_key_and_a_custom_model_name() {
    let e = Env::new();
    e.write(".env", "ANTHROPIC_TOKEN=\n");
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(&mut p, "❯ Nous Portal");
    send(&mut p, "anthro");
    exp(&mut p, "Search: anthro");
    send(&mut p, ENTER);
    exp(&mut p, "Choose authentication method:");
    send(&mut p, "\x1b[B");
    exp(&mut p, "❯ Anthropic API key (pay-per-token)");
    send(&mut p, ENTER);
    exp(&mut p, "API key (sk-ant-...): ");
    send(&mut p, "sk-ant-api03-testkey");
    send(&mut p, ENTER);
    exp(&mut p, "Showing 11 curated models");
    exp(&mut p, "❯ claude-fable-5");
    // Up from the first row wraps to "Skip", once more is "Enter custom model name".
    send(&mut p, "\x1b[A");
    exp(&mut p, "❯ Skip (keep current)");
    send(&mut p, "\x1b[A");
    exp(&mut p, "❯ Enter custom model name");
    send(&mut p, ENTER);
    exp(&mut p, "Enter model name: ");
    send(&mut p, "claude-custom-1");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Default model set to: claude-custom-1 (via Anthropic)",
    );
    assert_eq!(finish(p).0, 0);
    assert_eq!(e.read(".env"), "ANTHROPIC_API_KEY=sk-ant-api03-testkey\n");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["provider"], "anthropic");
    assert_eq!(cfg["model"]["default"], "claude-custom-1");
    assert!(cfg["model"].get("base_url").is_none());
}

#[test]
fn signed_in_oauth_provider_uses_existing_credentials() {
    let e = Env::new();
    e.write(
        "auth.json",
        r#"{"version": 1, "providers": {}, "credential_pool": {"openai-codex": [{"id": "abc123", "label": "me", "auth_type": "oauth", "priority": 0, "source": "manual:device_code", "access_token": "header.payload.sig", "refresh_token": "r"}]}}"#,
    );
    let mut p = spawn({
        let mut c = e.cmd();
        c.arg("model");
        c
    });
    exp(
        &mut p,
        "OpenAI ▸ (Codex CLI or direct OpenAI API)  ✓ configured",
    );
    send(&mut p, "openai");
    exp(&mut p, "Search: openai");
    send(&mut p, ENTER);
    exp(&mut p, "Select OpenAI provider:");
    exp(&mut p, "❯ OpenAI Codex");
    send(&mut p, ENTER);
    exp(&mut p, "OpenAI Codex credentials: ✓");
    exp(&mut p, "❯ Use existing credentials");
    send(&mut p, ENTER);
    exp(&mut p, "Showing 11 curated models");
    send(&mut p, "5.4-mini");
    exp(&mut p, "Search: 5.4-mini");
    send(&mut p, ENTER);
    exp(
        &mut p,
        "Default model set to: gpt-5.4-mini (via OpenAI Codex)",
    );
    assert_eq!(finish(p).0, 0);
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["provider"], "openai-codex");
    assert_eq!(
        cfg["model"]["base_url"],
        "https://chatgpt.com/backend-api/codex"
    );
    let auth: serde_json::Value = serde_json::from_str(&e.read("auth.json")).unwrap();
    assert_eq!(auth["active_provider"], "openai-codex");
    assert_eq!(auth["credential_pool"]["openai-codex"][0]["id"], "abc123");
}
