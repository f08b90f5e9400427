//! `hermes model` without a terminal: the scriptable flags, `--list`, model lists from a local
//! fake `/v1/models`, the cache and `--refresh`, the offline fallback, and config.yaml edits that
//! keep comments.

#[path = "model_support/mod.rs"]
mod support;

use std::process::Stdio;

use support::{Env, FakeModels};

fn run(c: &mut std::process::Command) -> (i32, String, String) {
    let out = c.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_a_terminal_or_flags_exits_2_with_a_hint() {
    let e = Env::new();
    let (code, _, err) = run(e.cmd().arg("model"));
    assert_eq!(code, 2);
    assert!(err.contains("needs an interactive terminal"), "{err}");
    assert!(err.contains("hint: set it without prompts: hermes model --provider"));
    assert!(!e.path("config.yaml").exists());
}

#[test]
fn list_providers_text_and_json() {
    let e = Env::new();
    let (code, out, _) = run(e.cmd().args(["model", "--list"]));
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().starts_with("nous "), "{out}");
    assert!(out.contains("deepseek"));
    let (code, out, _) = run(e
        .cmd()
        .args(["model", "--list", "--json"])
        .env("DEEPSEEK_API_KEY", "sk-x"));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], 1);
    let ds = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "deepseek")
        .unwrap();
    assert_eq!(ds["credentials"], true);
    assert_eq!(ds["auth"], "api_key");
    assert!(!e.path("config.yaml").exists());
}

#[test]
fn list_models_offline_uses_the_built_in_list() {
    let e = Env::new();
    // The key makes it try the network; the base URL points at a closed port.
    let (code, out, err) = run(e
        .cmd()
        .args(["model", "--list", "--provider", "deepseek", "--json"])
        .env("DEEPSEEK_API_KEY", "sk-x")
        .env("DEEPSEEK_BASE_URL", "http://127.0.0.1:1/v1"));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider"], "deepseek");
    assert_eq!(v["source"], "built-in");
    let ids: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "deepseek-v4-pro",
            "deepseek-v4-flash",
            "deepseek-chat",
            "deepseek-reasoner"
        ]
    );
    assert!(err.contains("could not fetch the live list"), "{err}");
}

#[test]
fn list_models_live_then_cached_then_refreshed() {
    let e = Env::new();
    let fake = FakeModels::start(&["ds-live-1", "ds-live-2"]);
    let base = format!("{}/v1", fake.url);
    let list = |refresh: bool| {
        let mut c = e.cmd();
        c.args(["model", "--list", "--provider", "deepseek", "--json"])
            .env("DEEPSEEK_API_KEY", "sk-live")
            .env("DEEPSEEK_BASE_URL", &base);
        if refresh {
            c.arg("--refresh");
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let v = list(false);
    assert_eq!(v["source"], "live");
    assert_eq!(v["models"][0]["id"], "ds-live-1");
    assert_eq!(fake.hits("/v1/models"), 1);
    assert_eq!(
        fake.seen.lock().unwrap()[0].1.as_deref(),
        Some("Bearer sk-live"),
        "the pool credential (seeded from the env var) is sent"
    );
    let cache: serde_json::Value =
        serde_json::from_str(&e.read("cache/models/deepseek.json")).unwrap();
    assert_eq!(cache["models"][1], "ds-live-2");
    // Within the hour: the cache answers, no request.
    assert_eq!(list(false)["source"], "cache");
    assert_eq!(fake.hits("/v1/models"), 1);
    // --refresh ignores and rewrites it.
    assert_eq!(list(true)["source"], "live");
    assert_eq!(fake.hits("/v1/models"), 2);
    // An expired cache is fetched again.
    let mut c = cache.clone();
    c["fetched_at"] = serde_json::json!(1000.0);
    c["models"] = serde_json::json!(["old"]);
    e.write("cache/models/deepseek.json", &c.to_string());
    assert_eq!(list(false)["models"][0]["id"], "ds-live-1");
    assert_eq!(fake.hits("/v1/models"), 3);
}

#[test]
fn set_provider_and_model_with_flags() {
    let e = Env::new();
    let (code, out, err) = run(e.cmd().args([
        "model",
        "--provider",
        "deepseek",
        "--model",
        "deepseek-chat",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Default model set to: deepseek-chat (via DeepSeek)"));
    assert!(err.contains("has no credentials yet"), "{err}");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["provider"], "deepseek");
    assert_eq!(cfg["model"]["default"], "deepseek-chat");
    assert_eq!(cfg["model"]["base_url"], "https://api.deepseek.com/v1");
    assert_eq!(cfg["_config_version"], 33);
    let auth: serde_json::Value = serde_json::from_str(&e.read("auth.json")).unwrap();
    assert!(auth["active_provider"].is_null());
}

#[test]
fn set_validates_provider_and_model_against_a_live_list() {
    let e = Env::new();
    let (code, _, err) = run(e
        .cmd()
        .args(["model", "--provider", "bogus", "--model", "x"]));
    assert_eq!(code, 3);
    assert!(err.contains("Unknown provider: bogus"), "{err}");
    let fake = FakeModels::start(&["good-model"]);
    let base = format!("{}/v1", fake.url);
    let mut c = e.cmd();
    c.args(["model", "--provider", "deepseek", "--model", "typo-model"])
        .env("DEEPSEEK_API_KEY", "sk-live")
        .env("DEEPSEEK_BASE_URL", &base);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 1);
    assert!(
        err.contains("Unknown model 'typo-model' for deepseek"),
        "{err}"
    );
    assert!(!e.path("config.yaml").exists());
    c.arg("--no-verify");
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let mut c = e.cmd();
    c.args(["model", "--provider", "deepseek", "--model", "good-model"])
        .env("DEEPSEEK_API_KEY", "sk-live")
        .env("DEEPSEEK_BASE_URL", &base);
    assert_eq!(run(&mut c).0, 0);
    assert!(e.read("config.yaml").contains("default: good-model"));
}

#[test]
fn custom_endpoint_with_flags_is_verified_and_saved() {
    let e = Env::new();
    let fake = FakeModels::start(&["llama-3-8b", "qwen2-7b"]);
    let base = format!("{}/v1", fake.url);
    let (code, out, err) = run(e.cmd().args([
        "model",
        "--provider",
        "custom",
        "--base-url",
        &base,
        "--model",
        "qwen2-7b",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Saved to custom providers as \"Local ("),
        "{out}"
    );
    let cfg: serde_yaml::Value = serde_yaml::from_str(&e.read("config.yaml")).unwrap();
    assert_eq!(cfg["model"]["provider"], "custom");
    assert_eq!(cfg["model"]["base_url"], base.as_str());
    assert_eq!(cfg["custom_providers"][0]["model"], "qwen2-7b");
    // Now it is a saved provider: list its models by name.
    let name = cfg["custom_providers"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, _) = run(e.cmd().args(["model", "--list", "--provider", &name]));
    assert_eq!(code, 0);
    assert_eq!(out, "llama-3-8b\nqwen2-7b\n");
    // Unreachable custom endpoint: refused unless --no-verify.
    let (code, _, err) = run(e.cmd().args([
        "model",
        "--provider",
        "custom",
        "--base-url",
        "http://127.0.0.1:1/v1",
        "--model",
        "m",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("--no-verify"), "{err}");
}

#[test]
fn writes_keep_comments_and_unrelated_keys() {
    let e = Env::new();
    let original = "# My Hermes config\n# (hand-written)\nmodel:\n  default: old   # was this\n  provider: openrouter\n  api_key: sk-plain\n\nterminal:\n  backend: docker  # keep\n  env: [A, B]\n\ndisplay:\n  skin: mono\n";
    e.write("config.yaml", original);
    let (code, _, err) = run(e.cmd().args([
        "model",
        "--provider",
        "deepseek",
        "--model",
        "deepseek-chat",
        "--no-verify",
    ]));
    assert_eq!(code, 0, "{err}");
    let after = e.read("config.yaml");
    assert!(
        after.starts_with("# My Hermes config\n# (hand-written)\nmodel:\n  default: deepseek-chat   # was this\n  provider: deepseek\n"),
        "{after}"
    );
    assert!(
        after.contains(
            "\n\nterminal:\n  backend: docker  # keep\n  env: [A, B]\n\ndisplay:\n  skin: mono\n"
        ),
        "{after}"
    );
    assert!(!after.contains("sk-plain"));
    assert!(after.contains("base_url: https://api.deepseek.com/v1"));
}

#[test]
fn a_damaged_auth_json_or_config_yaml_stops_the_save_with_nothing_written() {
    let corrupt = "{\"version\": 1, \"providers\": {";
    for (file, text, needle) in [
        ("auth.json", corrupt, "auth.json is not valid JSON"),
        (
            "config.yaml",
            "model: [unclosed\n",
            "config.yaml is not valid YAML",
        ),
    ] {
        let e = Env::new();
        e.write(file, text);
        let before = e.snapshot();
        let (code, out, err) = run(e.cmd().args([
            "model",
            "--provider",
            "deepseek",
            "--model",
            "deepseek-chat",
            "--no-verify",
        ]));
        assert_eq!(code, 1, "{file}: {out}{err}");
        assert!(err.contains(needle), "{err}");
        assert_eq!(
            err.lines().filter(|l| !l.starts_with("hint:")).count(),
            1,
            "{err}"
        );
        assert_eq!(e.snapshot(), before, "{file}: nothing written");
        assert!(!e.path("config.yaml").exists() || file == "config.yaml");
    }
    // The picker stops before its first question.
    let e = Env::new();
    e.write("auth.json", corrupt);
    let mut c = e.cmd();
    c.arg("model");
    let mut p = support::pty::spawn(c);
    let shown = support::exp(&mut p, "auth.json is not valid JSON");
    assert!(!shown.contains("Select provider:"), "{shown}");
    assert_eq!(support::pty::finish(p).0, 1);
    assert!(!e.path("config.yaml").exists());
}
