use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::clock::FixedClock;

const T0: f64 = 1_800_000_000.0;

struct Env {
    _dir: tempfile::TempDir,
    home: Home,
    clock: Arc<FixedClock>,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("h"));
        Self {
            _dir: dir,
            home,
            clock: FixedClock::new(T0),
        }
    }
    fn ctx_with(&self, process: &[(&str, &str)], config: &str) -> PoolContext {
        if !config.is_empty() {
            std::fs::create_dir_all(self.home.dir()).unwrap();
            std::fs::write(self.home.config_yaml(), config).unwrap();
        }
        let env = EnvSource::new(
            process
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            crate::store::dotenv::read(&self.home.dotenv()),
        );
        let mut ctx = PoolContext::new(
            self.home.clone(),
            Config::load(&self.home).unwrap(),
            env,
            self.clock.clone(),
        );
        ctx.user_home = Some(self.home.dir().join("user"));
        ctx
    }
    fn ctx(&self) -> PoolContext {
        self.ctx_with(&[], "")
    }
    fn add(&self, key: &str, label: &str, token: &str) {
        let mut p = CredentialPool::load(&self.ctx(), key).unwrap();
        let mut e = PoolEntry::new(label, "api_key", "manual");
        e.access_token = Some(token.into());
        p.add(e).unwrap();
    }
    fn disk(&self, key: &str) -> Vec<serde_json::Value> {
        let s = AuthStore::load(&self.home).unwrap();
        s.pool_entries(key)
            .into_iter()
            .map(|m| serde_json::Value::Object(m.clone()))
            .collect()
    }
    fn labels(&self, key: &str) -> Vec<String> {
        CredentialPool::load(&self.ctx(), key)
            .unwrap()
            .entries()
            .iter()
            .map(|e| e.label.clone())
            .collect()
    }
}

#[test]
fn empty_pool_writes_nothing() {
    let env = Env::new();
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    assert!(p.select().unwrap().is_none());
    assert!(!env.home.auth_json().exists());
}

#[test]
fn fill_first_and_add_priorities() {
    let env = Env::new();
    env.add("openrouter", "a", "k1");
    env.add("openrouter", "b", "k2");
    let d = env.disk("openrouter");
    assert_eq!(d[0]["priority"], 0);
    assert_eq!(d[1]["priority"], 1);
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    assert_eq!(p.select().unwrap().unwrap().label, "a");
    assert_eq!(p.select().unwrap().unwrap().label, "a");
}

#[test]
fn round_robin_continues_across_loads() {
    let env = Env::new();
    for l in ["a", "b", "c"] {
        env.add("openrouter", l, &format!("k-{l}"));
    }
    let ctx = env.ctx_with(
        &[],
        "credential_pool_strategies:\n  openrouter: ROUND_ROBIN\n",
    );
    let mut seen = vec![];
    for _ in 0..4 {
        let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
        seen.push(p.select().unwrap().unwrap().label);
    }
    assert_eq!(seen, ["a", "b", "c", "a"]);
    // After a, b, c, a the stored order is b, c, a.
    assert_eq!(env.labels("openrouter"), ["b", "c", "a"]);
}

#[test]
fn least_used_picks_the_lowest_count() {
    let env = Env::new();
    for (l, n) in [("a", 100), ("b", 10), ("c", 50)] {
        env.add("openrouter", l, &format!("k-{l}"));
        let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
        p.mutate(|f| f.iter_mut().find(|e| e.label == l).unwrap().request_count = n)
            .unwrap();
    }
    let ctx = env.ctx_with(
        &[],
        "credential_pool_strategies:\n  openrouter: least_used\n",
    );
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    let e = p.select().unwrap().unwrap();
    assert_eq!((e.label.as_str(), e.request_count), ("b", 11));
    assert_eq!(
        env.disk("openrouter")[1]["request_count"],
        10,
        "select alone does not write"
    );
    p.flush().unwrap();
    assert_eq!(env.disk("openrouter")[1]["request_count"], 11);
}

#[test]
fn random_uses_the_injected_picker() {
    let env = Env::new();
    for l in ["a", "b", "c"] {
        env.add("openrouter", l, &format!("k-{l}"));
    }
    let mut ctx = env.ctx_with(&[], "credential_pool_strategies:\n  openrouter: random\n");
    ctx.pick = Arc::new(|n| n - 1);
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    assert_eq!(p.select().unwrap().unwrap().label, "c");
}

#[test]
fn cooldowns_follow_the_ttls() {
    let env = Env::new();
    env.add("openrouter", "a", "k1");
    let ctx = env.ctx();
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    let set = |p: &mut CredentialPool, code: i64, ago: f64| {
        p.mutate(|f| {
            f[0].last_status = Some("exhausted".into());
            f[0].last_error_code = Some(code);
            f[0].last_status_at = Some(T0 - ago);
        })
        .unwrap();
    };
    set(&mut p, 401, 299.0);
    assert!(p.select().unwrap().is_none());
    set(&mut p, 401, 310.0);
    let e = p.select().unwrap().unwrap();
    assert_eq!(e.last_status.as_deref(), Some("ok"));
    assert_eq!(env.disk("openrouter")[0]["last_status"], "ok");
    set(&mut p, 402, 3700.0);
    assert!(p.select().unwrap().is_some());
    set(&mut p, 429, 3500.0);
    assert!(p.select().unwrap().is_none());
    env.clock.advance(101.0);
    assert!(p.select().unwrap().is_some());
}

#[test]
fn explicit_reset_time_wins() {
    let env = Env::new();
    env.add("openrouter", "a", "k1");
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    p.mutate(|f| {
        f[0].last_status = Some("exhausted".into());
        f[0].last_status_at = Some(T0 - 7200.0);
        f[0].last_error_reset_at = Some(T0 + 7.0 * 86_400.0);
    })
    .unwrap();
    assert!(!p.has_available().unwrap());
    assert!(p.select().unwrap().is_none());
}

#[test]
fn mark_and_rotate() {
    let env = Env::new();
    for l in ["a", "b", "c"] {
        env.add("openrouter", l, &format!("key-{l}"));
    }
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    let next = p
        .mark_exhausted_and_rotate(
            Some(429),
            &ErrorContext::reason("rate_limit_exceeded"),
            None,
        )
        .unwrap();
    assert_eq!(next.unwrap().label, "b");
    let next = p
        .mark_exhausted_and_rotate(Some(401), &ErrorContext::reason("invalid_grant"), None)
        .unwrap();
    assert_eq!(next.unwrap().label, "c");
    let next = p
        .mark_exhausted_and_rotate(
            Some(402),
            &ErrorContext::message("Quota exceeded. Please retry after 30s"),
            None,
        )
        .unwrap();
    assert!(next.is_none());
    let d = env.disk("openrouter");
    assert_eq!(d[0]["last_status"], "exhausted");
    assert_eq!(d[1]["last_status"], "dead");
    assert_eq!(d[1]["last_error_reason"], "invalid_grant");
    assert_eq!(d[2]["last_error_reset_at"], T0 + 30.0);
    // Every entry cooling: nothing is marked.
    assert!(
        p.mark_exhausted_and_rotate(Some(429), &ErrorContext::default(), None)
            .unwrap()
            .is_none()
    );
}

#[test]
fn hint_targets_the_key_that_failed() {
    let env = Env::new();
    env.add("openrouter", "a", "key-a");
    env.add("openrouter", "b", "key-b");
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    let next = p
        .mark_exhausted_and_rotate(Some(402), &ErrorContext::default(), Some("key-b"))
        .unwrap();
    assert_eq!(next.unwrap().label, "a");
    assert_eq!(env.disk("openrouter")[1]["last_status"], "exhausted");
}

#[test]
fn a_rotation_in_one_handle_is_seen_by_another() {
    let env = Env::new();
    env.add("openrouter", "a", "key-a");
    env.add("openrouter", "b", "key-b");
    let ctx = env.ctx();
    let mut one = CredentialPool::load(&ctx, "openrouter").unwrap();
    let mut two = CredentialPool::load(&ctx, "openrouter").unwrap();
    assert_eq!(two.select().unwrap().unwrap().label, "a");
    one.mark_exhausted_and_rotate(Some(429), &ErrorContext::default(), Some("key-a"))
        .unwrap();
    assert_eq!(two.select().unwrap().unwrap().label, "b");
}

#[test]
fn concurrent_writers_keep_each_others_entries() {
    let env = Env::new();
    env.add("openrouter", "a", "key-a");
    env.add("openrouter", "b", "key-b");
    let ctx = env.ctx();
    let mut stale = CredentialPool::load(&ctx, "openrouter").unwrap();
    env.add("openrouter", "c", "key-c");
    stale
        .mark_exhausted_and_rotate(Some(429), &ErrorContext::default(), None)
        .unwrap();
    let d = env.disk("openrouter");
    assert_eq!(d.len(), 3);
    assert_eq!(d[0]["last_status"], "exhausted");
}

#[test]
fn threads_share_a_pool() {
    let env = Env::new();
    for l in ["a", "b", "c", "d", "e"] {
        env.add("openrouter", l, &format!("key-{l}"));
    }
    let ctx = env.ctx_with(
        &[],
        "credential_pool_strategies:\n  openrouter: round_robin\n",
    );
    let pool = Arc::new(std::sync::Mutex::new(
        CredentialPool::load(&ctx, "openrouter").unwrap(),
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                (0..20)
                    .filter(|_| pool.lock().unwrap().select().unwrap().is_some())
                    .count()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 80);
}

#[test]
fn dead_manual_entries_are_pruned_after_a_day() {
    let env = Env::new();
    env.add("openrouter", "old", "k1");
    env.add("openrouter", "new", "k2");
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    p.mutate(|f| {
        for (e, ago) in f.iter_mut().zip([25.0 * 3600.0, 2.0 * 3600.0]) {
            e.last_status = Some("dead".into());
            e.last_status_at = Some(T0 - ago);
        }
    })
    .unwrap();
    assert!(p.peek().unwrap().is_none());
    let d = env.disk("openrouter");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["label"], "new");
    assert_eq!(d[0]["last_status"], "dead");
}

#[test]
fn env_seeding_keeps_only_a_fingerprint_and_survives_unset() {
    let env = Env::new();
    let ctx = env.ctx_with(&[("OPENROUTER_API_KEY", "sk-or-env-1234567890")], "");
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    assert_eq!(p.entries()[0].source, "env:OPENROUTER_API_KEY");
    assert_eq!(
        p.select().unwrap().unwrap().access_token.as_deref(),
        Some("sk-or-env-1234567890")
    );
    let d = env.disk("openrouter");
    assert!(d[0].get("access_token").is_none());
    assert_eq!(d[0]["secret_fingerprint"], "sha256:c1ac587fcf3151c4");
    assert_eq!(d[0]["label"], "OPENROUTER_API_KEY");
    // Without the variable the row stays, un-hydrated, and is never selected.
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    assert_eq!(p.entries().len(), 1);
    assert!(p.select().unwrap().is_none());
}

#[test]
fn dotenv_beats_process_env() {
    let env = Env::new();
    std::fs::create_dir_all(env.home.dir()).unwrap();
    std::fs::write(env.home.dotenv(), "OPENROUTER_API_KEY=fresh\n").unwrap();
    let ctx = env.ctx_with(&[("OPENROUTER_API_KEY", "stale")], "");
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    assert_eq!(
        p.select().unwrap().unwrap().access_token.as_deref(),
        Some("fresh")
    );
    std::fs::write(env.home.dotenv(), "OPENROUTER_API_KEY=op://vault/item\n").unwrap();
    let ctx = env.ctx_with(&[("OPENROUTER_API_KEY", "stale")], "");
    let mut p = CredentialPool::load(&ctx, "openrouter").unwrap();
    assert_eq!(
        p.select().unwrap().unwrap().access_token.as_deref(),
        Some("stale")
    );
}

#[test]
fn suppressed_sources_are_not_reseeded() {
    let env = Env::new();
    let ctx = env.ctx_with(&[("DEEPSEEK_API_KEY", "sk-ds-1234567890")], "");
    let mut p = CredentialPool::load(&ctx, "deepseek").unwrap();
    p.remove("1").unwrap();
    let lock = StoreLock::acquire(&env.home).unwrap();
    let mut s = AuthStore::load_locked(&lock).unwrap();
    s.suppress("deepseek", "env:DEEPSEEK_API_KEY");
    s.save(&lock).unwrap();
    drop(lock);
    let p = CredentialPool::load(&ctx, "deepseek").unwrap();
    assert!(p.entries().is_empty());
}

#[test]
fn duplicate_env_rows_collapse_to_the_first() {
    let env = Env::new();
    std::fs::create_dir_all(env.home.dir()).unwrap();
    let row = |id: &str, prio: i64| {
        json!({"id": id, "label": "OPENROUTER_API_KEY", "auth_type": "api_key", "priority": prio,
               "source": "env:OPENROUTER_API_KEY", "request_count": 0})
    };
    let doc = json!({"version": 1, "providers": {}, "credential_pool": {"openrouter": [row("current-row", 0), row("stale-duplicate", 1)]}});
    std::fs::write(env.home.auth_json(), doc.to_string()).unwrap();
    let ctx = env.ctx_with(&[("OPENROUTER_API_KEY", "sk-or-x-1234567890")], "");
    CredentialPool::load(&ctx, "openrouter").unwrap();
    let d = env.disk("openrouter");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["id"], "current-row");
}

#[test]
fn custom_pools_seed_from_config_and_prune() {
    let env = Env::new();
    let cfg = "custom_providers:\n- name: Together AI\n  base_url: https://api.together.xyz/v1/\n  api_key: sk-together-cfg\n";
    let ctx = env.ctx_with(&[], cfg);
    let p = CredentialPool::load(&ctx, "custom:together-ai").unwrap();
    let e = &p.entries()[0];
    assert_eq!(
        (e.source.as_str(), e.label.as_str()),
        ("config:Together AI", "Together AI")
    );
    assert_eq!(e.base_url.as_deref(), Some("https://api.together.xyz/v1"));
    assert!(
        env.disk("custom:together-ai")[0]
            .get("access_token")
            .is_none()
    );
    // Config key gone -> row pruned.
    let ctx = env.ctx_with(
        &[],
        "custom_providers:\n- name: Together AI\n  base_url: https://api.together.xyz/v1\n",
    );
    assert!(
        CredentialPool::load(&ctx, "custom:together-ai")
            .unwrap()
            .entries()
            .is_empty()
    );
}

#[test]
fn model_config_seeds_the_matching_custom_pool() {
    let env = Env::new();
    let cfg = "model:\n  provider: custom\n  base_url: http://localhost:8000/v1/\n  api_key: K-123456\ncustom_providers:\n- name: Local VLLM\n  base_url: http://localhost:8000/v1\n";
    let ctx = env.ctx_with(&[], cfg);
    let p = CredentialPool::load(&ctx, "custom:local-vllm").unwrap();
    let e = &p.entries()[0];
    assert_eq!(
        (e.source.as_str(), e.label.as_str()),
        ("model_config", "model_config")
    );
    assert_eq!(e.base_url.as_deref(), Some("http://localhost:8000/v1"));
}

#[test]
fn nous_state_seeds_a_device_code_entry() {
    let env = Env::new();
    std::fs::create_dir_all(env.home.dir()).unwrap();
    let jwt = crate::jwt::make_unsigned(
        &json!({"scope": "inference:invoke", "exp": T0 + 3600.0, "email": "u@x"}),
    );
    let doc = json!({"version": 1, "providers": {"nous": {"access_token": jwt, "agent_key": jwt, "agent_key_expires_at": "2099-01-01T00:00:00+00:00", "refresh_token": "r"}}});
    std::fs::write(env.home.auth_json(), doc.to_string()).unwrap();
    let mut p = CredentialPool::load(&env.ctx(), "nous").unwrap();
    let e = p.select().unwrap().unwrap();
    assert_eq!(
        (e.source.as_str(), e.label.as_str()),
        ("device_code", "u@x")
    );
    assert_eq!(e.runtime_api_key("nous", T0), jwt);
    let d = env.disk("nous");
    assert_eq!(d[0]["agent_key"], jwt.as_str());
    assert_eq!(d[0]["refresh_token"], "r");
}

#[test]
fn codex_suppression_keeps_the_pool_empty() {
    let env = Env::new();
    std::fs::create_dir_all(env.home.dir()).unwrap();
    let doc = json!({"version": 1, "providers": {"openai-codex": {"tokens": {"access_token": "a", "refresh_token": "r"}}},
                     "suppressed_sources": {"openai-codex": ["device_code"]}});
    std::fs::write(env.home.auth_json(), doc.to_string()).unwrap();
    assert!(
        CredentialPool::load(&env.ctx(), "openai-codex")
            .unwrap()
            .entries()
            .is_empty()
    );
}

#[test]
fn anthropic_order_and_api_key_path() {
    let env = Env::new();
    let user = env.home.dir().join("user/.claude");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join(".credentials.json"),
        r#"{"claudeAiOauth": {"accessToken": "cc-at", "refreshToken": "cc-rt", "expiresAt": 1}}"#,
    )
    .unwrap();
    // Not configured: nothing seeded.
    assert!(
        CredentialPool::load(&env.ctx(), "anthropic")
            .unwrap()
            .entries()
            .is_empty()
    );
    env.add("anthropic", "man", "sk-ant-api-1");
    let ctx = env.ctx_with(
        &[
            ("ANTHROPIC_TOKEN", "sk-ant-oat01-x"),
            ("ANTHROPIC_API_KEY", "sk-ant-api-2"),
        ],
        "",
    );
    let p = CredentialPool::load(&ctx, "anthropic").unwrap();
    let order: Vec<&str> = p.entries().iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        order,
        ["man", "ANTHROPIC_TOKEN", "claude_code", "ANTHROPIC_API_KEY"]
    );
    assert_eq!(p.entries()[1].auth_type, "oauth");
    let ctx = env.ctx_with(&[("ANTHROPIC_API_KEY", "sk-ant-api-2")], "");
    let p = CredentialPool::load(&ctx, "anthropic").unwrap();
    assert!(p.entries().iter().all(|e| e.source != "claude_code"));
}

#[test]
fn reset_counts_only_entries_that_were_cooling_or_dead() {
    let env = Env::new();
    for l in ["a", "b", "c"] {
        env.add("openrouter", l, &format!("key-{l}"));
    }
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    p.mutate(|f| {
        f[0].last_status = Some("exhausted".into());
        f[0].last_status_at = Some(T0);
        f[1].last_status = Some("ok".into());
        f[2].last_status = Some("dead".into());
    })
    .unwrap();
    assert_eq!(p.reset_statuses().unwrap(), 2);
    assert!(
        env.disk("openrouter")
            .iter()
            .all(|e| e["last_status"].is_null())
    );
    assert_eq!(p.reset_statuses().unwrap(), 0);
}

#[test]
fn targets_resolve_by_id_label_then_index() {
    let env = Env::new();
    for l in ["first", "2", "third", "dup", "DUP"] {
        env.add("openrouter", l, &format!("key-{l}"));
    }
    let p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    assert_eq!(p.resolve_target("2").unwrap().1.label, "2");
    assert_eq!(p.resolve_target("THIRD").unwrap().0, 3);
    let id = p.entries()[0].id.clone();
    assert_eq!(p.resolve_target(&id).unwrap().1.label, "first");
    assert_eq!(
        p.resolve_target("Dup").unwrap_err(),
        TargetError::Ambiguous("Dup".into())
    );
    assert_eq!(
        p.resolve_target("9").unwrap_err(),
        TargetError::NoIndex("9".into())
    );
    assert_eq!(
        p.resolve_target("zzz").unwrap_err().to_string(),
        "No credential matching \"zzz\"."
    );
    assert_eq!(p.resolve_target(" ").unwrap_err(), TargetError::Empty);
}

#[test]
fn remove_renumbers_priorities() {
    let env = Env::new();
    for l in ["a", "b", "c"] {
        env.add("openrouter", l, &format!("key-{l}"));
    }
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    let r = p.remove("1").unwrap();
    assert_eq!((r.index, r.entry.label.as_str()), (1, "a"));
    let d = env.disk("openrouter");
    assert_eq!(
        (d[0]["priority"].clone(), d[1]["priority"].clone()),
        (json!(0), json!(1))
    );
}

#[test]
fn leases_spread_then_stack() {
    let env = Env::new();
    env.add("openrouter", "a", "key-a");
    env.add("openrouter", "b", "key-b");
    let mut p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    let a = p.acquire_lease(None).unwrap().unwrap();
    let b = p.acquire_lease(None).unwrap().unwrap();
    assert_ne!(a, b);
    assert_eq!(p.acquire_lease(None).unwrap().unwrap(), a);
    assert_eq!(p.lease_count(&a), 2);
    p.release_lease(&a);
    assert_eq!(p.lease_count(&a), 1);
}

#[test]
fn labels_never_collide() {
    let env = Env::new();
    env.add("openrouter", "api-key-2", "k1");
    let p = CredentialPool::load(&env.ctx(), "openrouter").unwrap();
    assert_eq!(p.next_free_label("api-key"), "api-key-3");
    let _ = HashMap::<String, String>::new();
}
