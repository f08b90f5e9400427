//! Seeded sources through the CLI: config `model_config`, Claude Code credentials for
//! anthropic, codex device_code suppression, copilot suppression (pool-and-store.md §17.33,
//! §17.40, §17.44–46).

mod common;

use common::Env;
use serde_json::json;

/// §17.33
#[test]
fn model_config_seeds_the_matching_custom_pool() {
    let e = Env::new();
    e.secret("sk-vllm-model-cfg-0001");
    e.write_file(
        "config.yaml",
        "model:\n  provider: custom\n  base_url: http://localhost:8000/v1/\n  api_key: sk-vllm-model-cfg-0001\ncustom_providers:\n- name: Local VLLM\n  base_url: http://localhost:8000/v1\n",
    );
    let out = e.run(&["auth", "list", "custom:local-vllm"]).ok();
    assert_eq!(
        out.stdout,
        "custom:local-vllm (1 credentials):\n  #1  model_config         api_key model_config ←\n\n"
    );
    let entry = &e.pool("custom:local-vllm")[0];
    assert_eq!(entry["source"], "model_config");
    assert_eq!(entry["base_url"], "http://localhost:8000/v1");
    assert!(entry.get("access_token").is_none());
    // Removing it suppresses the source and explains that config.yaml is unchanged.
    let out = e.run(&["auth", "remove", "custom:local-vllm", "1"]).ok();
    assert_eq!(
        out.stdout,
        "Removed custom:local-vllm credential #1 (model_config)\nSuppressed model_config — it will not be re-seeded.\nNote: The underlying value in config.yaml is unchanged.  Edit it directly if you want to remove the credential from disk.\nRun `hermes auth reset custom:local-vllm --restore-sources` to re-enable it.\n"
    );
    // (The last line is ours: the reference has no way to undo a custom-pool suppression.)
    let out = e.run(&["auth", "list", "custom:local-vllm"]).ok();
    assert_eq!(out.stdout, "");
}

/// §17.40
#[test]
fn claude_code_credentials_only_when_anthropic_is_configured() {
    let e = Env::new();
    std::fs::create_dir_all(e.user.join(".claude")).unwrap();
    e.secret("sk-ant-oat01-claude-code-FAKE");
    e.secret("claude-refresh-FAKE-0001");
    std::fs::write(
        e.user.join(".claude/.credentials.json"),
        json!({"claudeAiOauth": {"accessToken": "sk-ant-oat01-claude-code-FAKE", "refreshToken": "claude-refresh-FAKE-0001", "expiresAt": 4102444800000u64}}).to_string(),
    )
    .unwrap();
    let out = e.run(&["auth", "list", "anthropic"]).ok();
    assert_eq!(out.stdout, "");
    assert!(!e.auth_path().exists());

    e.add_key("anthropic", "sk-ant-api03-manual-FAKE", Some("man"));
    let out = e.run(&["auth", "list", "anthropic"]).ok();
    assert_eq!(
        out.stdout,
        "anthropic (2 credentials):\n  #1  man                  api_key manual ←\n  #2  claude_code          oauth   claude_code\n\n"
    );
    let pool = e.pool("anthropic");
    assert_eq!(pool[1]["source"], "claude_code");
    assert!(
        pool[1].get("access_token").is_none(),
        "borrowed: no token on disk"
    );

    // With only ANTHROPIC_API_KEY set, the claude_code row is removed from disk.
    e.secret("sk-ant-api03-env-FAKE-0001");
    e.set("ANTHROPIC_API_KEY", "sk-ant-api03-env-FAKE-0001");
    e.run(&["auth", "list", "anthropic"]).ok();
    let sources: Vec<String> = e
        .pool("anthropic")
        .iter()
        .map(|x| x["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources, vec!["manual", "env:ANTHROPIC_API_KEY"]);
}

/// §17.44
#[test]
fn codex_device_code_suppression_and_removal() {
    let e = Env::new();
    let tokens = json!({"access_token": "codex-at-FAKE-00000001", "refresh_token": "codex-rt-FAKE-00000001"});
    e.write_auth(&json!({
        "version": 1,
        "providers": {"openai-codex": {"tokens": tokens, "auth_mode": "chatgpt"}},
        "credential_pool": {},
        "suppressed_sources": {"openai-codex": ["device_code"]}
    }));
    let out = e.run(&["auth", "list", "openai-codex"]).ok();
    assert_eq!(out.stdout, "");

    e.write_auth(&json!({
        "version": 1,
        "providers": {"openai-codex": {"tokens": tokens, "auth_mode": "chatgpt"}},
        "credential_pool": {"openai-codex": [{
            "id": "c0dex1", "label": "me@example.test", "auth_type": "oauth", "priority": 0,
            "source": "manual:device_code", "access_token": "codex-at-FAKE-00000001",
            "refresh_token": "codex-rt-FAKE-00000001", "base_url": "https://chatgpt.com/backend-api/codex",
            "request_count": 0
        }]}
    }));
    let out = e.run(&["auth", "remove", "openai-codex", "1"]).ok();
    assert!(
        out.stdout
            .starts_with("Removed openai-codex credential #1 (me@example.test)\n"),
        "{out}"
    );
    let doc = e.auth_json();
    assert!(doc["providers"].get("openai-codex").is_none(), "{doc}");
    // As the reference: the removed source and `device_code` are suppressed.
    assert_eq!(
        doc["suppressed_sources"]["openai-codex"],
        json!(["device_code", "manual:device_code"])
    );
    assert!(
        e.pool("openai-codex")
            .iter()
            .all(|x| x["source"] != "manual:device_code")
    );
}

/// §17.45–46
#[test]
fn copilot_removal_suppresses_every_token_source_and_add_clears_them() {
    let e = Env::new();
    e.write_auth(&json!({
        "version": 1,
        "providers": {},
        "credential_pool": {"copilot": [{
            "id": "c0p110", "label": "GH_TOKEN", "auth_type": "api_key", "priority": 0,
            "source": "env:GH_TOKEN", "secret_fingerprint": "sha256:0123456789abcdef",
            "base_url": "https://api.githubcopilot.com", "request_count": 0
        }]}
    }));
    let out = e.run(&["auth", "remove", "copilot", "1"]).ok();
    assert_eq!(
        out.stdout,
        "Removed copilot credential #1 (GH_TOKEN)\nSuppressed all copilot token sources (gh_cli + env vars) — they will not be re-seeded.\nNote: Your gh CLI / shell environment is unchanged.\nRun `hermes auth add copilot` to re-enable if needed.\n"
    );
    let mut got: Vec<String> = e.auth_json()["suppressed_sources"]["copilot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            "env:COPILOT_GITHUB_TOKEN",
            "env:GH_TOKEN",
            "env:GITHUB_TOKEN",
            "gh_cli"
        ]
    );
    e.add_key("copilot", "ghu-copilot-manual-FAKE-01", None);
    assert!(e.auth_json().get("suppressed_sources").is_none());
}
