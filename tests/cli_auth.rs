//! Black-box tests of `hermes auth …` (and `login`, `logout`, `completion`) against the real
//! binary in a hermetic HERMES_HOME: pool-and-store.md §17, adapted where issue 2 deliberately
//! differs from the reference (exit code 3 for not-found, 2 for a missing key, …).

mod common;

use std::time::{Duration, Instant};

use common::{Env, manual_entry, mode, now};
use serde_json::{Value, json};

fn is_hex6(s: &str) -> bool {
    s.len() == 6
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------- fresh homes, --help

/// §17.1 + issue 2 point 1: nothing is created by read-only commands or help on an empty home.
#[test]
fn help_and_commands_on_empty_home_create_nothing() {
    let cases: &[&[&str]] = &[
        &["--help"],
        &["--version"],
        &["auth", "--help"],
        &["auth", "add", "--help"],
        &["auth", "list"],
        &["auth", "list", "--json"],
        &["auth", "list", "openrouter"],
        &["auth", "status", "openrouter"],
        &["auth", "status", "openrouter", "--json"],
        &["auth", "reset", "openrouter"],
        &["auth", "remove", "openrouter", "1"],
        &["auth", "logout", "nous"],
        &["auth"],
        &["logout"],
        &["login"],
        &["completion", "bash"],
    ];
    for args in cases {
        // HERMES_HOME that exists and is empty…
        let e = Env::new();
        let out = e.run(args);
        assert!(out.code == 0 || out.code == 3, "{args:?}: {out}");
        assert_eq!(
            e.home_listing(),
            Vec::<String>::new(),
            "{args:?} created files"
        );
        assert_eq!(common::listing(&e.user), Vec::<String>::new(), "{args:?}");
        // …and one that does not exist at all.
        let e = Env::without_home_dir();
        e.run(args);
        assert!(!e.home.exists(), "{args:?} created HERMES_HOME");
        assert_eq!(common::listing(&e.user), Vec::<String>::new(), "{args:?}");
    }
}

#[test]
fn fresh_list_prints_nothing() {
    let e = Env::new();
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
    assert!(!e.auth_path().exists());
}

// ---------------------------------------------------------------- add

/// §17.2–17.5.
#[test]
fn add_writes_reference_schema_modes_and_lock() {
    let e = Env::new();
    let out = e.add_key("openrouter", "sk-test-1-abcdef", Some("a"));
    assert_eq!(out.stdout, "Added openrouter credential #1: \"a\"\n");
    assert_eq!(out.stderr, "");
    let doc = e.auth_json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["providers"], json!({}));
    assert!(doc["updated_at"].as_str().unwrap().ends_with("+00:00"));
    let pool = e.pool("openrouter");
    assert_eq!(pool.len(), 1);
    let entry = pool[0].as_object().unwrap();
    assert!(is_hex6(entry["id"].as_str().unwrap()), "{entry:?}");
    assert_eq!(entry["label"], "a");
    assert_eq!(entry["auth_type"], "api_key");
    assert_eq!(entry["priority"], 0);
    assert_eq!(entry["source"], "manual");
    assert_eq!(entry["access_token"], "sk-test-1-abcdef");
    assert_eq!(entry["base_url"], "https://openrouter.ai/api/v1");
    assert_eq!(entry["request_count"], 0);
    for f in [
        "last_status",
        "last_status_at",
        "last_error_code",
        "last_error_reason",
        "last_error_message",
        "last_error_reset_at",
    ] {
        assert_eq!(entry.get(f), Some(&Value::Null), "{f}");
    }
    // §17.3: modes and the lock file.
    assert_eq!(mode(&e.auth_path()), 0o600);
    assert_eq!(mode(&e.home), 0o700);
    let lock = e.home.join("auth.lock");
    assert!(lock.exists());
    assert_eq!(std::fs::metadata(&lock).unwrap().len(), 0);
    assert_eq!(
        e.home_listing(),
        vec!["auth.json".to_string(), "auth.lock".into()],
        "no temp or stray files"
    );

    // §17.4
    let out = e.add_key("openrouter", "sk-test-2-abcdef", None);
    assert_eq!(
        out.stdout,
        "Added openrouter credential #2: \"api-key-2\"\n"
    );
    assert_eq!(e.pool("openrouter")[1]["priority"], 1);
    // §17.5
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (2 credentials):\n  #1  a                    api_key manual ←\n  #2  api-key-2            api_key manual\n\n"
    );
}

/// A HERMES_HOME that does not exist yet is created 0700 by the first write.
#[test]
fn add_creates_missing_home_private() {
    let e = Env::without_home_dir();
    e.add_key("deepseek", "sk-ds-create-home", None);
    assert_eq!(mode(&e.home), 0o700);
    assert_eq!(mode(&e.auth_path()), 0o600);
    assert!(e.home.join("auth.lock").exists());
}

/// `printf %s KEY | hermes auth add openrouter --type api-key` keeps the key off argv.
#[test]
fn add_reads_key_from_piped_stdin() {
    let e = Env::new();
    e.secret("sk-or-piped-0123456789");
    let out = e
        .run_stdin(
            &["auth", "add", "openrouter", "--type", "api-key"],
            b"sk-or-piped-0123456789",
        )
        .ok();
    assert_eq!(
        out.stdout,
        "Added openrouter credential #1: \"api-key-1\"\n"
    );
    assert_eq!(
        e.pool("openrouter")[0]["access_token"],
        "sk-or-piped-0123456789"
    );
    // A trailing newline (echo) is not part of the key.
    e.secret("sk-or-piped-echo-98765");
    e.run_stdin(
        &[
            "auth",
            "add",
            "openrouter",
            "--type",
            "api-key",
            "--label",
            "echoed",
        ],
        b"sk-or-piped-echo-98765\n",
    )
    .ok();
    assert_eq!(
        e.pool("openrouter")[1]["access_token"],
        "sk-or-piped-echo-98765"
    );
}

/// No key: stdin closed (/dev/null) or empty → "No API key provided.", exit 2, nothing written.
#[test]
fn add_without_key_fails_fast_with_exit_2() {
    let e = Env::new();
    let t = Instant::now();
    let out = e
        .run(&["auth", "add", "openrouter", "--type", "api-key"])
        .code(2);
    assert!(t.elapsed() < Duration::from_secs(10), "must not block");
    assert_eq!(out.first_err_line(), "No API key provided.");
    assert_eq!(out.stdout, "");
    let out = e
        .run_stdin(&["auth", "add", "openrouter", "--type", "api-key"], b"")
        .code(2);
    assert_eq!(out.first_err_line(), "No API key provided.");
    let out = e
        .run_stdin(&["auth", "add", "openrouter", "--type", "api-key"], b"  \n")
        .code(2);
    assert_eq!(out.first_err_line(), "No API key provided.");
    let out = e
        .run(&[
            "auth",
            "add",
            "openrouter",
            "--type",
            "api-key",
            "--api-key",
            "",
        ])
        .code(2);
    assert_eq!(out.first_err_line(), "No API key provided.");
    assert!(!e.auth_path().exists());
}

/// §17.36 adapted: unknown provider exits 3; oauth on an api-key provider exits 1; aliases.
#[test]
fn add_provider_resolution() {
    let e = Env::new();
    let out = e
        .run(&["auth", "add", "nosuch", "--api-key", "x-secret-value"])
        .code(3);
    assert_eq!(out.first_err_line(), "Unknown provider: nosuch");
    let out = e
        .run(&["auth", "add", "openrouter", "--type", "oauth"])
        .code(1);
    assert_eq!(
        out.first_err_line(),
        "`hermes auth add openrouter` is not implemented for auth type oauth yet."
    );
    assert!(!e.auth_path().exists());

    e.secret("sk-or-alias-123456");
    let out = e
        .run(&["auth", "add", "OR", "--api-key", "sk-or-alias-123456"])
        .ok();
    assert_eq!(
        out.stdout,
        "Added openrouter credential #1: \"api-key-1\"\n"
    );
    e.secret("xai-alias-key-123456");
    let out = e
        .run(&[
            "auth",
            "add",
            "grok-oauth",
            "--type",
            "api-key",
            "--api-key",
            "xai-alias-key-123456",
        ])
        .ok();
    assert_eq!(out.stdout, "Added xai-oauth credential #1: \"api-key-1\"\n");
    let out = e
        .run(&[
            "auth",
            "add",
            "Open-Router",
            "--api-key",
            "sk-or-alias-2-123456",
        ])
        .ok();
    e.secret("sk-or-alias-2-123456");
    assert_eq!(
        out.stdout,
        "Added openrouter credential #2: \"api-key-2\"\n"
    );
}

/// `--api-key` without `--type` means api-key, even for providers that default to OAuth.
#[test]
fn api_key_flag_implies_api_key_type() {
    let e = Env::new();
    e.secret("sk-ant-api03-abcdefgh");
    let out = e
        .run(&[
            "auth",
            "add",
            "anthropic",
            "--api-key",
            "sk-ant-api03-abcdefgh",
        ])
        .ok();
    assert_eq!(out.stdout, "Added anthropic credential #1: \"api-key-1\"\n");
    let entry = &e.pool("anthropic")[0];
    assert_eq!(entry["auth_type"], "api_key");
    assert_eq!(entry["source"], "manual");
    assert_eq!(entry["access_token"], "sk-ant-api03-abcdefgh");
    // An sk-ant-oat token on anthropic is stored as oauth (reference rule).
    e.secret("sk-ant-oat01-abcdefgh");
    e.run(&[
        "auth",
        "add",
        "anthropic",
        "--api-key",
        "sk-ant-oat01-abcdefgh",
    ])
    .ok();
    assert_eq!(e.pool("anthropic")[1]["auth_type"], "oauth");
}

/// Default labels never collide with an existing label (the reference repeats `api-key-N`).
#[test]
fn default_labels_never_collide() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-label-000001", None); // api-key-1
    e.add_key("openrouter", "sk-or-label-000002", None); // api-key-2
    e.add_key("openrouter", "sk-or-label-000003", None); // api-key-3
    e.run(&["auth", "remove", "openrouter", "1"]).ok();
    // The reference would pick api-key-3 again (count + 1).
    let out = e.add_key("openrouter", "sk-or-label-000004", None);
    assert_eq!(
        out.stdout,
        "Added openrouter credential #3: \"api-key-4\"\n"
    );
    e.add_key("deepseek", "sk-ds-label-000001", Some("API-KEY-2"));
    let out = e.add_key("deepseek", "sk-ds-label-000002", None);
    assert_eq!(out.stdout, "Added deepseek credential #2: \"api-key-3\"\n");
    let labels: Vec<String> = e
        .pool("openrouter")
        .iter()
        .map(|x| x["label"].as_str().unwrap().to_lowercase())
        .collect();
    let mut dedup = labels.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(labels.len(), dedup.len(), "{labels:?}");
}

/// Issue 2 point 8: 16 processes adding to one provider at once end with 16 entries.
#[test]
fn sixteen_parallel_adds_keep_every_entry() {
    let e = Env::new();
    let keys: Vec<String> = (0..16).map(|i| format!("sk-ds-parallel-{i:04}")).collect();
    let children: Vec<_> = keys
        .iter()
        .map(|k| {
            e.secret(k);
            e.cmd(&[
                "auth",
                "add",
                "deepseek",
                "--type",
                "api-key",
                "--api-key",
                k,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = String::from_utf8_lossy(&o.stdout);
        for k in &keys {
            assert!(!s.contains(k.as_str()));
        }
    }
    let pool = e.pool("deepseek");
    assert_eq!(pool.len(), 16);
    let mut tokens: Vec<&str> = pool
        .iter()
        .map(|x| x["access_token"].as_str().unwrap())
        .collect();
    tokens.sort();
    let mut want: Vec<&str> = keys.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(tokens, want);
    let mut ids: Vec<&str> = pool.iter().map(|x| x["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16, "ids are unique");
    let mut labels: Vec<&str> = pool.iter().map(|x| x["label"].as_str().unwrap()).collect();
    labels.sort();
    labels.dedup();
    assert_eq!(
        labels.len(),
        16,
        "default labels never collide, even in parallel"
    );
    assert_eq!(mode(&e.auth_path()), 0o600);
    assert_eq!(
        e.home_listing(),
        vec!["auth.json".to_string(), "auth.lock".into()],
        "no temp files left behind"
    );
}

// ---------------------------------------------------------------- remove

/// §17.6–17.11 adapted (not-found errors exit 3).
#[test]
fn remove_targets_and_errors() {
    let e = Env::new();
    e.add_key("openrouter", "sk-test-1-abcdef", Some("a"));
    e.add_key("openrouter", "sk-test-2-abcdef", None);
    let out = e.run(&["auth", "remove", "openrouter", "1"]).ok();
    assert_eq!(out.stdout, "Removed openrouter credential #1 (a)\n");
    assert_eq!(out.stderr, "");
    let doc = e.auth_json();
    assert_eq!(doc["credential_pool"]["openrouter"][0]["priority"], 0);
    assert!(doc.get("suppressed_sources").is_none());

    let out = e.run(&["auth", "remove", "openrouter", "5"]).code(3);
    assert_eq!(
        out.first_err_line(),
        "No credential #5. Provider: openrouter."
    );
    let out = e.run(&["auth", "remove", "openrouter", "nonexist"]).code(3);
    assert_eq!(
        out.first_err_line(),
        "No credential matching \"nonexist\". Provider: openrouter."
    );
    let out = e.run(&["auth", "remove", "nosuch", "1"]).code(3);
    assert_eq!(out.first_err_line(), "Unknown provider: nosuch");

    // Ambiguous labels.
    e.add_key("deepseek", "sk-ds-dup-000001", Some("dup"));
    e.add_key("deepseek", "sk-ds-dup-000002", Some("Dup"));
    let before = e.auth_bytes();
    let out = e.run(&["auth", "remove", "deepseek", "DUP"]);
    assert_ne!(out.code, 0);
    assert_eq!(
        out.first_err_line(),
        "Ambiguous credential label \"DUP\". Use the numeric index or entry id instead. Provider: deepseek."
    );
    assert_eq!(e.auth_bytes(), before, "failed remove writes nothing");

    // By id, by case-insensitive label.
    let id = e.pool("deepseek")[1]["id"].as_str().unwrap().to_string();
    let out = e.run(&["auth", "remove", "deepseek", &id]).ok();
    assert_eq!(out.stdout, "Removed deepseek credential #2 (Dup)\n");
    let out = e.run(&["auth", "remove", "deepseek", "DUP"]).ok();
    assert_eq!(out.stdout, "Removed deepseek credential #1 (dup)\n");
    assert_eq!(e.pool("deepseek").len(), 0);

    // A numeric label wins over the index.
    e.add_key("xai", "sk-xai-num-000001", Some("first"));
    e.add_key("xai", "sk-xai-num-000002", Some("2"));
    e.add_key("xai", "sk-xai-num-000003", Some("third"));
    let out = e.run(&["auth", "remove", "xai", "3"]).ok();
    assert_eq!(out.stdout, "Removed xai credential #3 (third)\n");
    let out = e.run(&["auth", "remove", "xai", "2"]).ok();
    assert_eq!(out.stdout, "Removed xai credential #2 (2)\n");
    let labels: Vec<Value> = e.pool("xai").iter().map(|x| x["label"].clone()).collect();
    assert_eq!(labels, vec![json!("first")]);
}

// ---------------------------------------------------------------- env seeding

/// §17.12–17.15.
#[test]
fn env_seeding_suppression_and_unsuppress() {
    let e = Env::new();
    let key = "sk-or-env-1234567890";
    e.secret(key);
    e.set("OPENROUTER_API_KEY", key);
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (1 credentials):\n  #1  OPENROUTER_API_KEY   api_key env:OPENROUTER_API_KEY ←\n\n"
    );
    let entry = e.pool("openrouter")[0].clone();
    assert_eq!(entry["source"], "env:OPENROUTER_API_KEY");
    assert_eq!(entry["label"], "OPENROUTER_API_KEY");
    assert!(entry.get("access_token").is_none(), "{entry}");
    assert_eq!(entry["secret_fingerprint"], "sha256:c1ac587fcf3151c4");
    assert!(
        !String::from_utf8(e.auth_bytes().unwrap())
            .unwrap()
            .contains(key)
    );

    // Listing again with the env var set changes nothing on disk.
    let before = e.auth_bytes();
    e.run(&["auth", "list"]).ok();
    assert_eq!(e.auth_bytes(), before);

    // §17.13: without the var the row stays, unmarked.
    e.unset("OPENROUTER_API_KEY");
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (1 credentials):\n  #1  OPENROUTER_API_KEY   api_key env:OPENROUTER_API_KEY\n\n"
    );
    assert_eq!(e.auth_bytes(), before);

    // §17.14
    e.set("OPENROUTER_API_KEY", key);
    let out = e.run(&["auth", "remove", "openrouter", "1"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Removed openrouter credential #1 (OPENROUTER_API_KEY)"
    );
    assert!(
        lines[1].starts_with(
            "Note: OPENROUTER_API_KEY is still set in your shell environment (not in "
        )
    );
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[3].contains("hermes auth add openrouter"));
    assert_eq!(
        e.auth_json()["suppressed_sources"],
        json!({"openrouter": ["env:OPENROUTER_API_KEY"]})
    );
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(out.stdout, "");

    // §17.15
    e.add_key("openrouter", "sk-or-manual-k-0001", Some("k"));
    assert!(e.auth_json().get("suppressed_sources").is_none());
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (2 credentials):\n  #1  k                    api_key manual ←\n  #2  OPENROUTER_API_KEY   api_key env:OPENROUTER_API_KEY\n\n"
    );
    assert_eq!(e.pool("openrouter")[1]["priority"], 1);
}

/// §17.16–17.17: `.env` seeding, and removal clears the line.
#[test]
fn dotenv_seeding_and_removal() {
    let e = Env::new();
    e.secret("sk-ds-dotenv-0123456789");
    e.secret("sk-or-fresh-0123456789");
    e.secret("sk-or-stale-0123456789");
    e.write_file(
        ".env",
        "# comment\nFOO=bar\nDEEPSEEK_API_KEY=sk-ds-dotenv-0123456789\nexport OTHER=1\n",
    );
    let out = e.run(&["auth", "list", "deepseek"]).ok();
    assert_eq!(
        out.stdout,
        "deepseek (1 credentials):\n  #1  DEEPSEEK_API_KEY     api_key env:DEEPSEEK_API_KEY ←\n\n"
    );
    let out = e.run(&["auth", "remove", "deepseek", "1"]).ok();
    assert_eq!(
        out.stdout,
        "Removed deepseek credential #1 (DEEPSEEK_API_KEY)\nCleared DEEPSEEK_API_KEY from .env\nSuppressed env:DEEPSEEK_API_KEY — it will not be re-seeded even if the variable is re-exported later.\n"
    );
    let dotenv = std::fs::read_to_string(e.home.join(".env")).unwrap();
    assert_eq!(dotenv, "# comment\nFOO=bar\nexport OTHER=1\n");

    // .env beats the process env: the stored fingerprint is the .env value's.
    e.write_file(".env", "OPENROUTER_API_KEY=sk-or-fresh-0123456789\n");
    e.set("OPENROUTER_API_KEY", "sk-or-stale-0123456789");
    e.run(&["auth", "list"]).ok();
    let fp = e.pool("openrouter")[0]["secret_fingerprint"].clone();
    let want = format!("sha256:{}", &sha256_hex("sk-or-fresh-0123456789")[..16]);
    assert_eq!(fp, json!(want));
}

fn sha256_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------- cooldowns, reset

fn status_entry(
    id: &str,
    label: &str,
    prio: i64,
    status: &str,
    code: Option<i64>,
    at: f64,
) -> Value {
    let mut v = manual_entry(id, label, prio, &format!("sk-or-cool-{id}-0000"));
    v["last_status"] = json!(status);
    v["last_status_at"] = json!(at);
    v["last_error_code"] = json!(code);
    v
}

/// §17.18 (+ the deliberate difference: DEAD rows say `dead …`), then §17.19 adapted: reset
/// counts only entries that were exhausted or dead.
#[test]
fn cooldown_rows_and_reset_counts() {
    let e = Env::new();
    let t = now();
    let mut dead = status_entry("a00006", "gone", 5, "dead", Some(401), t - 7200.0);
    dead["last_error_reason"] = json!("invalid_grant");
    let mut resetat = status_entry("a00005", "resetat", 4, "exhausted", Some(500), t - 10.0);
    resetat["last_error_reset_at"] = json!(t + 90000.0);
    let mut okrow = manual_entry("a00007", "okrow", 6, "sk-or-cool-ok-0000");
    okrow["last_status"] = json!("ok");
    okrow["last_status_at"] = json!(t - 5.0);
    let doc = json!({
        "version": 1,
        "providers": {},
        "credential_pool": {"openrouter": [
            status_entry("a00001", "rl429", 0, "exhausted", Some(429), t - 60.0),
            status_entry("a00002", "auth401", 1, "exhausted", Some(401), t - 10.0),
            status_entry("a00003", "bill402", 2, "exhausted", Some(402), t - 10.0),
            status_entry("a00004", "expired", 3, "exhausted", Some(429), t - 7200.0),
            resetat,
            dead,
            okrow,
            manual_entry("a00008", "fresh", 7, "sk-or-cool-fresh-000"),
        ]},
        "updated_at": "2026-11-23T00:00:00.000000+00:00"
    });
    e.write_auth(&doc);
    let before = e.auth_bytes();
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        e.auth_bytes(),
        before,
        "auth list changes no status on disk"
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "openrouter (8 credentials):");
    // The first wait depends on the clock: 59m 0s, or a second less on a slow machine.
    assert!(
        lines[1] == "  #1  rl429                api_key manual rate-limited (429) (59m 0s left)"
            || lines[1]
                == "  #1  rl429                api_key manual rate-limited (429) (58m 59s left)",
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "  #2  auth401              api_key manual auth failed (401) (re-auth may be required)"
    );
    assert!(
        lines[3].starts_with("  #3  bill402              api_key manual exhausted (402) (59m 5"),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        "  #4  expired              api_key manual rate-limited (429) (ready to retry) ←"
    );
    assert_eq!(
        lines[5],
        "  #5  resetat              api_key manual exhausted (500) (1d 1h left)"
    );
    // Deliberate difference: the reference prints DEAD rows without any status text.
    assert!(
        lines[6].starts_with("  #6  gone                 api_key manual dead invalid_grant (401)"),
        "{}",
        lines[6]
    );
    assert_eq!(lines[7], "  #7  okrow                api_key manual");
    assert_eq!(lines[8], "  #8  fresh                api_key manual");

    // JSON view of the same data.
    let out = e.run(&["auth", "list", "openrouter", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    let creds = v["pools"][0]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 8);
    assert_eq!(creds[3]["current"], true);
    assert_eq!(creds[5]["status"], "dead");
    assert_eq!(e.auth_bytes(), before);

    // Deliberate difference: only the 6 exhausted/dead entries count (the reference says 7,
    // counting the `ok` one too).
    let out = e.run(&["auth", "reset", "openrouter"]).ok();
    assert_eq!(out.stdout, "Reset status on 6 openrouter credentials\n");
    for entry in e.pool("openrouter") {
        for f in [
            "last_status",
            "last_status_at",
            "last_error_code",
            "last_error_reason",
            "last_error_message",
            "last_error_reset_at",
        ] {
            assert_eq!(entry[f], Value::Null, "{f} in {entry}");
        }
    }
    assert_eq!(e.pool("openrouter").len(), 8, "reset keeps every entry");
    let bytes = e.auth_bytes();
    let out = e.run(&["auth", "reset", "OR"]).ok();
    assert_eq!(out.stdout, "Reset status on 0 openrouter credentials\n");
    assert_eq!(e.auth_bytes(), bytes, "a reset of nothing writes nothing");
    // Every row is back in rotation.
    let out = e.run(&["auth", "list", "openrouter"]).ok();
    assert!(
        out.stdout
            .contains("#1  rl429                api_key manual ←")
    );
}

// ---------------------------------------------------------------- status, logout, login

#[test]
fn status_and_list_are_case_insensitive_and_json() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-status-000001", Some("main"));
    let before = e.auth_bytes();
    let out = e.run(&["auth", "status", "OR"]).ok();
    // Deliberate difference: the reference says `logged out` although a key is pooled.
    assert_eq!(out.stdout, "openrouter: logged in\n");
    let out = e.run(&["auth", "status", "OpenRouter", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["provider"], "openrouter");
    assert_eq!(v["logged_in"], true);
    let out = e.run(&["auth", "status", "deepseek", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["logged_in"], false);
    let out = e.run(&["auth", "list", "OR"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (1 credentials):\n  #1  main                 api_key manual ←\n\n"
    );
    let out = e.run(&["auth", "list", "OPENROUTER", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["pools"][0]["provider"], "openrouter");
    assert_eq!(v["pools"][0]["credentials"][0]["label"], "main");
    let out = e.run(&["auth", "list", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["pools"].as_array().unwrap().len(), 1);
    // Empty listing as JSON is still a document.
    let e2 = Env::new();
    let out = e2.run(&["auth", "list", "--json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v, json!({"schema": 1, "pools": []}));
    assert_eq!(e.auth_bytes(), before, "read commands write nothing");
}

/// §17.48 adapted: `auth logout openrouter` works; names are case-insensitive.
#[test]
fn logout_commands() {
    let e = Env::new();
    e.add_key("deepseek", "sk-ds-logout-000001", None);
    e.add_key("openrouter", "sk-or-logout-000001", None);
    let out = e.run(&["auth", "logout", "DeepSeek"]).ok();
    assert_eq!(
        out.stdout,
        "Logged out of DeepSeek.\nModel provider configuration was unchanged.\n"
    );
    assert!(e.auth_json()["credential_pool"].get("deepseek").is_none());
    let out = e.run(&["auth", "logout", "deepseek"]).ok();
    assert_eq!(out.stdout, "No auth state found for DeepSeek.\n");
    let out = e.run(&["auth", "logout", "OR"]).ok();
    assert_eq!(
        out.stdout,
        "Logged out of OpenRouter.\nModel provider configuration was unchanged.\n"
    );
    assert!(e.auth_json()["credential_pool"].get("openrouter").is_none());
    let out = e.run(&["auth", "logout", "nosuch"]).code(3);
    assert_eq!(out.first_err_line(), "Unknown provider: nosuch");

    // `logout NOUS` with Nous state: case-insensitive, clears state and active_provider.
    let mut doc = e.auth_json();
    doc["providers"]["nous"] = json!({"access_token": "nous-at-FAKE-00000001", "portal_base_url": "https://portal.nousresearch.com"});
    doc["active_provider"] = json!("nous");
    doc["x_keep_me"] = json!({"a": 1});
    e.write_auth(&doc);
    let out = e.run(&["auth", "logout", "NOUS"]).ok();
    assert!(
        out.stdout.starts_with("Logged out of Nous Portal.\n"),
        "{out}"
    );
    let doc = e.auth_json();
    assert!(doc["providers"].get("nous").is_none());
    assert_eq!(doc["active_provider"], Value::Null);
    assert_eq!(doc["x_keep_me"], json!({"a": 1}));
    assert_eq!(mode(&e.auth_path()), 0o600);
}

#[test]
fn top_level_logout_and_login() {
    let e = Env::new();
    let out = e.run(&["logout"]).ok();
    assert_eq!(out.stdout, "No provider is currently logged in.\n");
    let mut doc = json!({"version": 1, "providers": {"nous": {"access_token": "nous-at-FAKE-00000002"}}, "active_provider": "nous"});
    doc["credential_pool"] = json!({});
    e.write_auth(&doc);
    let out = e.run(&["logout"]).ok();
    assert!(
        out.stdout.starts_with("Logged out of Nous Portal.\n"),
        "{out}"
    );
    assert!(e.auth_json()["providers"].get("nous").is_none());

    let out = e.run(&["login"]).ok();
    assert_eq!(
        out.stdout,
        "The 'hermes login' command has been removed.\nUse 'hermes auth' to manage credentials,\n'hermes model' to select a provider, or 'hermes setup' for full setup.\n"
    );
}

/// Bare `hermes auth` without a terminal: table + one hint line, exit 0, never blocks.
#[test]
fn bare_auth_without_terminal() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-bare-0000001", Some("main"));
    let before = e.auth_bytes();
    let t = Instant::now();
    let out = e.run(&["auth"]).ok();
    assert!(t.elapsed() < Duration::from_secs(10));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "Credential Pool Status");
    assert_eq!(lines[1], "=".repeat(50));
    assert_eq!(lines[2], "openrouter (1 credentials):");
    assert_eq!(lines[3], "  #1  main                 api_key manual ←");
    assert_eq!(lines[4], "");
    assert_eq!(lines.len(), 6, "{out}");
    assert!(lines[5].starts_with("hint: "), "{out}");
    assert_eq!(e.auth_bytes(), before);
    // Also with something on stdin (a pipe is not a terminal).
    let out = e.run_stdin(&["auth"], b"1\n").ok();
    assert!(out.stdout.contains("hint: "));
}

#[test]
fn completions() {
    let e = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = e.run(&["completion", shell]).ok();
        assert!(out.stdout.contains("hermes"), "{shell}");
        assert!(out.stdout.contains("auth"), "{shell}");
        assert!(out.stdout.len() > 200, "{shell}");
    }
    let out = e.run(&["completion", "tcsh"]);
    assert_eq!(out.code, 2);
    assert!(e.home_listing().is_empty());
}

// ---------------------------------------------------------------- custom providers

/// §17.32 and §17.34.
#[test]
fn custom_provider_pools() {
    let e = Env::new();
    e.secret("sk-together-cfg-0001");
    e.write_file(
        "config.yaml",
        "custom_providers:\n- name: Together AI\n  base_url: https://api.together.xyz/v1\n  api_key: sk-together-cfg-0001\nother_key: [1, 2]\n",
    );
    e.secret("sk-m-together-0001");
    let out = e
        .run(&[
            "auth",
            "add",
            "together ai",
            "--api-key",
            "sk-m-together-0001",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "Added custom:together-ai credential #2: \"api-key-2\"\n"
    );
    let pool = e.pool("custom:together-ai");
    assert_eq!(pool[0]["source"], "config:Together AI");
    assert_eq!(pool[0]["label"], "Together AI");
    assert!(pool[0].get("access_token").is_none());
    assert!(
        pool[0]["secret_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(pool[1]["base_url"], "https://api.together.xyz/v1");
    let out = e
        .run(&["auth", "remove", "custom:together-ai", "Together AI"])
        .ok();
    assert!(
        out.stdout
            .contains("Suppressed config:Together AI — it will not be re-seeded."),
        "{out}"
    );
    assert_eq!(
        e.auth_json()["suppressed_sources"]["custom:together-ai"],
        json!(["config:Together AI"])
    );
    e.secret("sk-m-together-0002");
    e.run(&[
        "auth",
        "add",
        "Together AI",
        "--api-key",
        "sk-m-together-0002",
    ])
    .ok();
    assert_eq!(
        e.auth_json()["suppressed_sources"]["custom:together-ai"],
        json!(["config:Together AI"])
    );
    let cfg = std::fs::read_to_string(e.home.join("config.yaml")).unwrap();
    assert!(cfg.contains("other_key"), "config.yaml untouched");
}

// ---------------------------------------------------------------- corrupt / unreadable stores

fn every_command() -> Vec<Vec<&'static str>> {
    vec![
        vec!["auth", "list"],
        vec!["auth", "list", "openrouter"],
        vec!["auth", "list", "--json"],
        vec!["auth", "status", "openrouter"],
        vec![
            "auth",
            "add",
            "openrouter",
            "--api-key",
            "sk-or-corrupt-new-0001",
        ],
        vec![
            "auth",
            "add",
            "deepseek",
            "--api-key",
            "sk-ds-corrupt-new-0001",
        ],
        vec!["auth", "remove", "openrouter", "1"],
        vec!["auth", "reset", "openrouter"],
        vec!["auth", "logout", "deepseek"],
        vec!["auth"],
        vec!["logout"],
    ]
}

/// A store that does not parse is an error for every command, and is never overwritten
/// (deliberate difference: the reference lists nothing and lets `auth add` replace it).
#[test]
fn corrupt_store_is_left_byte_identical() {
    for content in [
        &b"{not json"[..],
        b"",
        b"[1, 2]",
        b"{\"version\": 1, \"credential_pool\": {\"openrouter\": [{\"access_token\": \"sk-or-truncated-secret-01",
    ] {
        let e = Env::new();
        e.secret("sk-or-corrupt-new-0001");
        e.secret("sk-ds-corrupt-new-0001");
        e.secret("sk-or-truncated-secret-01");
        std::fs::write(e.auth_path(), content).unwrap();
        for args in every_command() {
            let out = e.run(&args);
            assert_ne!(out.code, 0, "{args:?} on {content:?}: {out}");
            assert!(
                out.first_err_line().contains("auth.json"),
                "{args:?}: names the file: {out}"
            );
            assert_eq!(
                std::fs::read(e.auth_path()).unwrap(),
                content,
                "{args:?} touched the corrupt store"
            );
            assert!(!e.home.join("auth.json.corrupt").exists());
        }
        let names = e.home_listing();
        assert!(
            names.iter().all(|n| n == "auth.json" || n == "auth.lock"),
            "{names:?}"
        );
    }
}

/// An unreadable store (here: a directory in its place, which even root cannot read as a
/// file; plus mode 000 when not running as root) is an error too.
#[test]
fn unreadable_store_is_an_error() {
    let e = Env::new();
    std::fs::create_dir(e.auth_path()).unwrap();
    for args in every_command() {
        let out = e.run(&args);
        assert_ne!(out.code, 0, "{args:?}: {out}");
        assert!(
            out.first_err_line().contains("auth.json"),
            "{args:?}: {out}"
        );
        assert!(e.auth_path().is_dir());
    }

    let e = Env::new();
    e.add_key("openrouter", "sk-or-unreadable-0001", None);
    let before = e.auth_bytes().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(e.auth_path(), std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(e.auth_path()).is_ok() {
        // Running as root: permissions do not stop reads; the directory case above covers it.
        return;
    }
    for args in every_command() {
        let out = e.run(&args);
        assert_ne!(out.code, 0, "{args:?}: {out}");
    }
    std::fs::set_permissions(e.auth_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(e.auth_bytes().unwrap(), before);
}

// ---------------------------------------------------------------- unknown fields

/// Unknown top-level and entry fields survive every rewrite (the reference drops entry fields).
#[test]
fn unknown_fields_survive_every_rewrite() {
    let e = Env::new();
    let t = now();
    let mut a = manual_entry("b00001", "one", 0, "sk-or-unknown-00001");
    a["x_future_field"] = json!({"nested": [1, "two"]});
    a["last_status"] = json!("exhausted");
    a["last_status_at"] = json!(t - 10.0);
    a["last_error_code"] = json!(429);
    let mut b = manual_entry("b00002", "two", 1, "sk-or-unknown-00002");
    b["x_other"] = json!("kept");
    let mut d = manual_entry("b00003", "ds", 0, "sk-ds-unknown-00001");
    d["base_url"] = json!("https://api.deepseek.com/v1");
    d["x_future_field"] = json!(true);
    let doc = json!({
        "version": 1,
        "providers": {"nous": {"access_token": "", "x_state": 5}},
        "x_future_top": {"keep": ["me"]},
        "credential_pool": {"openrouter": [a, b], "deepseek": [d]},
        "updated_at": "2026-11-23T00:00:00.000000+00:00",
        "x_after": 1
    });
    e.write_auth(&doc);
    e.secret("sk-or-unknown-00003");
    e.secret("sk-ds-env-unknown-0001");
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "auth",
            "add",
            "openrouter",
            "--api-key",
            "sk-or-unknown-00003",
        ],
        vec!["auth", "reset", "openrouter"],
        vec!["auth", "remove", "openrouter", "3"],
        vec!["auth", "logout", "xai"],
    ];
    for args in steps {
        e.run(&args).ok();
        let now_doc = e.auth_json();
        assert_eq!(now_doc["x_future_top"], json!({"keep": ["me"]}), "{args:?}");
        assert_eq!(now_doc["x_after"], 1, "{args:?}");
        assert_eq!(now_doc["providers"]["nous"]["x_state"], 5, "{args:?}");
        let or = &now_doc["credential_pool"]["openrouter"];
        assert_eq!(
            or[0]["x_future_field"],
            json!({"nested": [1, "two"]}),
            "{args:?}"
        );
        assert_eq!(or[1]["x_other"], "kept", "{args:?}");
        assert_eq!(
            now_doc["credential_pool"]["deepseek"][0]["x_future_field"], true,
            "{args:?}"
        );
    }
    // An env-seeding rewrite of the deepseek pool keeps the field too.
    e.set("DEEPSEEK_API_KEY", "sk-ds-env-unknown-0001");
    e.run(&["auth", "list"]).ok();
    let now_doc = e.auth_json();
    assert_eq!(
        now_doc["credential_pool"]["deepseek"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        now_doc["credential_pool"]["deepseek"][0]["x_future_field"],
        true
    );
    assert_eq!(now_doc["x_future_top"], json!({"keep": ["me"]}));
}

/// A valid store without `providers`/`credential_pool` keeps its other keys (the reference
/// treats it as empty and drops them).
#[test]
fn store_without_pool_keys_keeps_its_keys() {
    let e = Env::new();
    e.write_auth(&json!({
        "version": 1,
        "active_provider": "nous",
        "suppressed_sources": {"openrouter": ["env:OPENROUTER_API_KEY"]},
        "x_unknown": "still here"
    }));
    e.add_key("deepseek", "sk-ds-nopool-000001", None);
    let doc = e.auth_json();
    assert_eq!(doc["active_provider"], "nous");
    assert_eq!(
        doc["suppressed_sources"],
        json!({"openrouter": ["env:OPENROUTER_API_KEY"]})
    );
    assert_eq!(doc["x_unknown"], "still here");
    assert_eq!(
        doc["credential_pool"]["deepseek"].as_array().unwrap().len(),
        1
    );
}

/// §17.39: the legacy `systems` layout.
#[test]
fn legacy_systems_layout_is_read() {
    let e = Env::new();
    e.write_auth(&json!({"systems": {"nous_portal": {"access_token": "nous-legacy-FAKE-0001"}}}));
    let out = e.run(&["logout"]).ok();
    assert!(
        out.stdout.starts_with("Logged out of Nous Portal.\n"),
        "{out}"
    );
}

// ---------------------------------------------------------------- modes after every write

#[test]
fn modes_after_every_write() {
    let e = Env::new();
    std::fs::set_permissions(&e.home, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    e.add_key("openrouter", "sk-or-modes-000001", None);
    assert_eq!(mode(&e.home), 0o700);
    for args in [
        vec![
            "auth",
            "add",
            "openrouter",
            "--api-key",
            "sk-or-modes-000002",
        ],
        vec!["auth", "remove", "openrouter", "1"],
        vec!["auth", "logout", "openrouter"],
    ] {
        e.secret("sk-or-modes-000002");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(e.auth_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        e.run(&args).ok();
        assert_eq!(mode(&e.auth_path()), 0o600, "{args:?}");
        assert_eq!(mode(&e.home), 0o700, "{args:?}");
        assert!(e.home.join("auth.lock").exists());
    }
}

/// The reference's own `auth.lock` held by another process makes writers wait, not fail
/// or write around it.
#[test]
fn writers_wait_for_the_lock() {
    let e = Env::new();
    e.add_key("openrouter", "sk-or-lockwait-0001", None);
    let lock = std::fs::OpenOptions::new()
        .append(true)
        .open(e.home.join("auth.lock"))
        .unwrap();
    lock.lock().unwrap();
    e.secret("sk-or-lockwait-0002");
    let child = e
        .cmd(&[
            "auth",
            "add",
            "openrouter",
            "--api-key",
            "sk-or-lockwait-0002",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        e.pool("openrouter").len(),
        1,
        "no write while the lock is held"
    );
    lock.unlock().unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(e.pool("openrouter").len(), 2);
}

/// `auth list` / `auth status` do not rewrite a store that only differs from our own output in
/// form (integer timestamps, missing default fields, another key order): no seeding needed,
/// no write.
#[test]
fn read_commands_do_not_normalize_the_store() {
    let e = Env::new();
    let text = r#"{"credential_pool": {"openrouter": [{"id": "abc123", "source": "manual", "label": "x",
 "access_token": "sk-or-form-only-0001", "last_status": "exhausted", "last_status_at": 1700000000,
 "last_error_code": 429, "priority": 0}]}, "version": 1, "providers": {}}"#;
    e.secret("sk-or-form-only-0001");
    e.write_file("auth.json", text);
    let out = e.run(&["auth", "list"]).ok();
    assert_eq!(
        out.stdout,
        "openrouter (1 credentials):\n  #1  x                    api_key manual rate-limited (429) (ready to retry) ←\n\n"
    );
    e.run(&["auth", "status", "openrouter"]).ok();
    e.run(&["auth", "list", "--json"]).ok();
    assert_eq!(std::fs::read_to_string(e.auth_path()).unwrap(), text);
    // A borrowed row that still holds its secret in plaintext is sanitized (that write is needed).
    e.secret("sk-ds-legacy-plain-0001");
    e.write_file(
        "auth.json",
        r#"{"version": 1, "providers": {}, "credential_pool": {"deepseek": [{"id": "def456", "label": "DEEPSEEK_API_KEY",
 "auth_type": "api_key", "priority": 0, "source": "env:DEEPSEEK_API_KEY", "access_token": "sk-ds-legacy-plain-0001"}]}}"#,
    );
    e.run(&["auth", "list"]).ok();
    let entry = &e.pool("deepseek")[0];
    assert!(entry.get("access_token").is_none(), "{entry}");
    assert!(
        entry["secret_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}
