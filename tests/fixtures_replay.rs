//! Replays every capture the Python reference (hermes-agent 0.19.0) recorded in
//! `tests/fixtures/<scenario>/expected/captures.json` against our binary (like
//! `../shared/fixtures/check.py`), and checks that add/remove/reset on every fixture home lose
//! no entry, label, order, source or unknown field.
//!
//! Every capture must match byte for byte (stdout, stderr, exit code, whether auth.json
//! changed, and the resulting auth.json as JSON), except the deliberate differences listed
//! in [`deliberate`], each of which is checked for *our* behaviour instead.

mod common;

use std::path::Path;

use common::{Env, fixtures_dir, now, scenarios};
use serde_json::{Map, Value, json};

/// One recorded capture.
struct Capture {
    scenario: String,
    name: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    start_epoch: f64,
    auth_json_changed: bool,
    time_dependent: bool,
}

fn captures(scenario: &str) -> Vec<Capture> {
    let p = fixtures_dir().join(scenario).join("expected/captures.json");
    let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| Capture {
            scenario: scenario.to_string(),
            name: c["name"].as_str().unwrap().to_string(),
            argv: c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
            env: c["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            start_epoch: c["start_epoch"].as_f64().unwrap(),
            auth_json_changed: c["auth_json_changed"].as_bool().unwrap(),
            time_dependent: c["time_dependent"]
                .as_str()
                .is_some_and(|t| t.starts_with("YES")),
        })
        .collect()
}

/// How our output may deliberately differ from the reference for one capture.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Deliberate {
    /// A corrupt auth.json is an error (exit 1, names the file) and is never overwritten;
    /// the reference lists nothing, exits 0, and `auth add` silently replaces the store.
    CorruptStoreIsAnError,
    /// `auth status` of an API-key provider with a usable pooled key says `logged in`
    /// (the reference says `logged out` for openrouter and custom pools).
    StatusLoggedIn,
    /// `auth reset` counts only entries that were exhausted or dead (the reference also
    /// counts `ok` entries: 6 instead of 5 here).
    ResetCountsOnlyBadEntries,
    /// DEAD rows show `dead <reason> (<code>) (re-auth required)` in `auth list`; the
    /// reference prints them without any status, like healthy rows.
    DeadRowsShowStatus,
    /// The stored OAuth token expired after the capture was taken, so `auth status` now
    /// tries a refresh (offline here: it fails) and says so on an extra line; the login is kept.
    ExpiredSinceCapture,
    /// Unknown fields of rewritten entries, and the keys of a store that has no
    /// `providers`/`credential_pool`, are kept; the reference drops them.
    KeepsUnknownKeys,
}

/// The explicit allow-list. Everything not listed must match the reference exactly.
fn deliberate(scenario: &str, name: &str) -> Vec<Deliberate> {
    use Deliberate::*;
    match (scenario, name) {
        ("corrupt", _) => vec![CorruptStoreIsAnError],
        ("apikeys-basic", "status-openrouter")
        | ("env-seeded", "status-openrouter")
        | ("env-suppressed", "status-openrouter")
        | ("custom-provider", "status-openrouter")
        | ("custom-provider", "status-custom-local-llama") => vec![StatusLoggedIn],
        ("cooldowns" | "cooldowns-aged", "reset-openrouter") => vec![ResetCountsOnlyBadEntries],
        ("cooldowns" | "cooldowns-aged", "list" | "list-openrouter") => vec![DeadRowsShowStatus],
        ("oauth-others", "status-anthropic" | "status-spotify") => vec![ExpiredSinceCapture],
        ("unknown-fields", "add") | ("store-no-pool-keys", "add") => vec![KeepsUnknownKeys],
        _ => vec![],
    }
}

/// `(… left)` durations in a line, turned into seconds with their precision, and the line
/// with them replaced by a placeholder.
fn strip_waits(line: &str) -> (String, Vec<(i64, i64)>) {
    let mut out = String::new();
    let mut waits = vec![];
    let mut rest = line;
    while let Some(end) = rest.find(" left)") {
        let Some(open) = rest[..end].rfind('(') else {
            break;
        };
        let mut secs = 0i64;
        let mut precision = 1i64;
        for part in rest[open + 1..end].split(' ') {
            let (num, unit) = part.split_at(part.len() - 1);
            let n: i64 = num.parse().unwrap_or(0);
            let mult = match unit {
                "d" => 86_400,
                "h" => 3_600,
                "m" => 60,
                _ => 1,
            };
            secs += n * mult;
            precision = mult;
        }
        out.push_str(&rest[..open]);
        out.push_str("(… left)");
        waits.push((secs, precision));
        rest = &rest[end + " left)".len()..];
    }
    out.push_str(rest);
    (out, waits)
}

/// Time-shifted captures: waits may differ by the run's few seconds of drift.
fn same_up_to_clock(want: &str, got: &str) -> bool {
    let (w, ww) = strip_waits(want);
    let (g, gw) = strip_waits(got);
    w == g
        && ww.len() == gw.len()
        && ww
            .iter()
            .zip(&gw)
            .all(|((a, pa), (b, _))| (a - b).abs() <= 3 + pa)
}

/// Shifts every `last_status_at` / `last_error_reset_at` by `delta` seconds so a
/// time-dependent capture can be replayed as of its capture time.
fn shift_times(doc: &mut Value, delta: f64) {
    if let Some(pools) = doc
        .get_mut("credential_pool")
        .and_then(Value::as_object_mut)
    {
        for entries in pools.values_mut() {
            for e in entries.as_array_mut().into_iter().flatten() {
                for f in ["last_status_at", "last_error_reset_at"] {
                    if let Some(t) = e.get(f).and_then(Value::as_f64) {
                        e[f] = json!(t + delta);
                    }
                }
            }
        }
    }
}

/// The lines where the reference prints a DEAD row (no status) and we print `dead …`.
fn dead_labels(doc: &Value) -> Vec<String> {
    let mut v = vec![];
    for entries in doc["credential_pool"].as_object().into_iter().flatten() {
        for e in entries.1.as_array().into_iter().flatten() {
            if e["last_status"] == "dead" {
                v.push(e["label"].as_str().unwrap_or("").to_string());
            }
        }
    }
    v
}

fn scrub(s: &str, env: &Env) -> String {
    let mut s = s.to_string();
    for (p, name) in [(&env.home, "$HERMES_HOME"), (&env.user, "$HOME")] {
        if let Ok(c) = p.canonicalize() {
            s = s.replace(&c.display().to_string(), name);
        }
        s = s.replace(&p.display().to_string(), name);
    }
    s
}

/// Removes what the README says to ignore when comparing stores: `updated_at`, and ids of
/// entries that are not in `base` (new random ids).
fn normalized(doc: &Value, base: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(m) = d.as_object_mut() {
        m.remove("updated_at");
    }
    let old_ids: Vec<String> = base["credential_pool"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, a)| a.as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    if let Some(pools) = d.get_mut("credential_pool").and_then(Value::as_object_mut) {
        for entries in pools.values_mut() {
            for e in entries.as_array_mut().into_iter().flatten() {
                if let Some(id) = e["id"].as_str()
                    && !old_ids.iter().any(|o| o == id)
                {
                    e["id"] = json!("<new>");
                }
            }
        }
    }
    d
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

/// Runs one capture; returns a description of every unexpected difference.
fn replay(cap: &Capture) -> Vec<String> {
    let sdir = fixtures_dir().join(&cap.scenario);
    let exp = sdir.join("expected");
    let env = Env::fixture(&cap.scenario);
    for (k, _) in common::env_txt(&sdir.join("env.txt")) {
        env.unset(&k);
    }
    for (k, v) in &cap.env {
        env.set(k, v);
    }
    let allowed = deliberate(&cap.scenario, &cap.name);
    let original = env.auth_bytes();
    if cap.time_dependent {
        let mut doc = env.auth_json();
        shift_times(&mut doc, now() - cap.start_epoch);
        env.write_auth(&doc);
    }
    let before = env.auth_bytes();
    let args: Vec<&str> = cap.argv.iter().map(String::as_str).collect();
    let out = env.run(&args);
    let after = env.auth_bytes();
    let stdout = scrub(&out.stdout, &env);
    let stderr = scrub(&out.stderr, &env);
    let want_stdout = std::fs::read_to_string(exp.join(format!("{}.stdout", cap.name))).unwrap();
    let want_stderr = std::fs::read_to_string(exp.join(format!("{}.stderr", cap.name))).unwrap();
    let want_rc: i32 = std::fs::read_to_string(exp.join(format!("{}.rc", cap.name)))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let changed = after != before;
    let id = format!("{}/{}", cap.scenario, cap.name);
    let mut diffs = vec![];

    if allowed.contains(&Deliberate::CorruptStoreIsAnError) {
        // Ours: exit 1, one clear line naming the file, nothing on stdout, bytes untouched.
        if out.code != 1
            || !stdout.is_empty()
            || !stderr.starts_with("error: $HERMES_HOME/auth.json is not valid JSON")
            || after != original
            || env.home.join("auth.json.corrupt").exists()
        {
            diffs.push(format!("{id}: corrupt store handling:\n{out}"));
        }
        return diffs;
    }

    // stdout
    let stdout_ok = if allowed.contains(&Deliberate::StatusLoggedIn) {
        let provider = want_stdout.rsplit_once(": ").unwrap().0;
        want_stdout == format!("{provider}: logged out\n")
            && stdout == format!("{provider}: logged in\n")
    } else if allowed.contains(&Deliberate::ResetCountsOnlyBadEntries) {
        want_stdout == "Reset status on 6 openrouter credentials\n"
            && stdout == "Reset status on 5 openrouter credentials\n"
    } else {
        let dead = if allowed.contains(&Deliberate::DeadRowsShowStatus) {
            dead_labels(&read_json(&sdir.join("home/auth.json")).unwrap())
        } else {
            vec![]
        };
        let w: Vec<&str> = want_stdout.split('\n').collect();
        let g: Vec<&str> = stdout.split('\n').collect();
        w.len() == g.len()
            && w.iter().zip(&g).all(|(w, g)| {
                if w == g {
                    return true;
                }
                // A DEAD row: the reference line, then ` dead …` (and no `←`).
                if dead.iter().any(|l| w.contains(&format!("  {l} ")))
                    && g.starts_with(&format!("{w} dead "))
                    && g.contains("(re-auth required)")
                {
                    return true;
                }
                cap.time_dependent && same_up_to_clock(w, g)
            })
    };
    // An expired token: the reference's lines, then one line saying the offline refresh failed.
    let stdout_ok = stdout_ok
        || (allowed.contains(&Deliberate::ExpiredSinceCapture)
            && stdout.starts_with(want_stdout.as_str())
            && stdout[want_stdout.len()..]
                .lines()
                .all(|l| l.starts_with("  refresh_error: ")));
    if !stdout_ok {
        diffs.push(format!(
            "{id}: stdout\n--- want ---\n{want_stdout}--- got ---\n{stdout}"
        ));
    }
    if stderr != want_stderr {
        diffs.push(format!(
            "{id}: stderr\n--- want ---\n{want_stderr}--- got ---\n{stderr}"
        ));
    }
    if out.code != want_rc {
        diffs.push(format!("{id}: rc {} (want {want_rc})", out.code));
    }

    // auth.json
    if changed != cap.auth_json_changed {
        diffs.push(format!(
            "{id}: auth.json changed={changed} (want {})",
            cap.auth_json_changed
        ));
    }
    let want_store = read_json(&exp.join(format!("{}.auth.json", cap.name)));
    if changed && let Some(want) = want_store {
        let base = read_json(&sdir.join("home/auth.json")).unwrap();
        let got = normalized(&env.auth_json(), &base);
        let mut want = normalized(&want, &base);
        if allowed.contains(&Deliberate::KeepsUnknownKeys) {
            // The reference's result plus what it dropped: entry fields it rewrote away and
            // top-level keys of a store it treated as empty.
            restore_dropped(&mut want, &base);
            // …except the suppression markers `auth add` clears on purpose (both binaries).
            let pool = cap.argv[2].as_str();
            if let Some(m) = want
                .get_mut("suppressed_sources")
                .and_then(Value::as_object_mut)
            {
                m.remove(pool);
                if m.is_empty() {
                    want.as_object_mut().unwrap().remove("suppressed_sources");
                }
            }
        }
        if cap.scenario == "oauth-nous" && cap.name == "status-nous" {
            // `expires_in` / `agent_key_expires_in` are wall-clock countdowns (fixtures README).
            fn drop_countdowns(v: &mut Value) {
                match v {
                    Value::Object(m) => {
                        m.remove("expires_in");
                        m.remove("agent_key_expires_in");
                        m.values_mut().for_each(drop_countdowns);
                    }
                    Value::Array(a) => a.iter_mut().for_each(drop_countdowns),
                    _ => {}
                }
            }
            let (mut w, mut g) = (want.clone(), got.clone());
            drop_countdowns(&mut w);
            drop_countdowns(&mut g);
            if w != g {
                diffs.push(format!(
                    "{id}: auth.json differs beyond the countdown fields"
                ));
            }
        } else if cap.time_dependent {
            // Compare statuses only: timestamps were shifted.
            diffs.extend(compare_ignoring_times(&id, &want, &got));
        } else if got != want {
            diffs.push(format!(
                "{id}: auth.json\n--- want ---\n{}\n--- got ---\n{}",
                serde_json::to_string_pretty(&want).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    diffs
}

/// Puts back into `want` the keys the reference dropped from `base`: unknown entry fields
/// (matched by id) and top-level keys.
fn restore_dropped(want: &mut Value, base: &Value) {
    for (k, v) in base.as_object().unwrap() {
        if k != "updated_at" && want.get(k).is_none() {
            want[k] = v.clone();
        }
    }
    let Some(pools) = base["credential_pool"].as_object() else {
        return;
    };
    for (pool, entries) in pools {
        for be in entries.as_array().into_iter().flatten() {
            let Some(we) = want["credential_pool"][pool]
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|w| w["id"] == be["id"]))
            else {
                continue;
            };
            for (k, v) in be.as_object().unwrap() {
                if we.get(k).is_none() {
                    we[k] = v.clone();
                }
            }
        }
    }
}

fn compare_ignoring_times(id: &str, want: &Value, got: &Value) -> Vec<String> {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(pools) = v.get_mut("credential_pool").and_then(Value::as_object_mut) {
            for entries in pools.values_mut() {
                for e in entries.as_array_mut().into_iter().flatten() {
                    for f in ["last_status_at", "last_error_reset_at"] {
                        if !e[f].is_null() {
                            e[f] = json!("<time>");
                        }
                    }
                }
            }
        }
        v
    }
    if strip(want) == strip(got) {
        vec![]
    } else {
        vec![format!("{id}: auth.json differs (times ignored)")]
    }
}

#[test]
fn every_reference_capture_matches() {
    let mut diffs = vec![];
    let mut n = 0;
    for s in scenarios() {
        for cap in captures(&s) {
            n += 1;
            diffs.extend(replay(&cap));
        }
    }
    assert!(n >= 55, "only {n} captures found");
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
}

#[test]
fn allow_list_names_real_captures() {
    // Guard against an allow-list entry that no longer matches a capture (and so hides nothing
    // on purpose but might hide something by accident later).
    let all: Vec<(String, String)> = scenarios()
        .iter()
        .flat_map(|s| captures(s).into_iter().map(|c| (c.scenario, c.name)))
        .collect();
    let allowed = all
        .iter()
        .filter(|(s, n)| !deliberate(s, n).is_empty())
        .count();
    assert_eq!(
        allowed,
        4 + 5 + 2 + 4 + 2 + 2,
        "allow-list size changed: review it"
    );
}

// ---------------------------------------------------------------- rewrites lose nothing

fn entries(doc: &Value, pool: &str) -> Vec<Value> {
    doc["credential_pool"][pool]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// Everything but `credential_pool[pool]`, `updated_at` and `suppressed_sources[pool]`
/// (an empty `providers` / `credential_pool` counts as absent).
fn rest(doc: &Value, pool: &str) -> Value {
    let mut d = without(doc, &["updated_at"]);
    if let Some(p) = d.get_mut("credential_pool").and_then(Value::as_object_mut) {
        p.remove(pool);
    }
    for k in ["providers", "credential_pool"] {
        if d[k] == json!({}) {
            d.as_object_mut().unwrap().remove(k);
        }
    }
    if let Some(s) = d
        .get_mut("suppressed_sources")
        .and_then(Value::as_object_mut)
    {
        s.remove(pool);
        if s.is_empty() {
            d.as_object_mut().unwrap().remove("suppressed_sources");
        }
    }
    d
}

const STATUS_FIELDS: &[&str] = &[
    "last_status",
    "last_status_at",
    "last_error_code",
    "last_error_reason",
    "last_error_message",
    "last_error_reset_at",
];

/// Fixture homes whose store parses (corrupt is covered by the replay).
fn rewritable() -> Vec<String> {
    scenarios().into_iter().filter(|s| s != "corrupt").collect()
}

/// The first pool of a fixture whose rows are all manual (so a remove has no side effects on
/// provider state), else any non-empty pool.
fn pick_pool(doc: &Value) -> Option<String> {
    let pools = doc["credential_pool"].as_object()?;
    pools
        .iter()
        .find(|(_, a)| {
            a.as_array().is_some_and(|a| {
                !a.is_empty() && a.iter().all(|e| e["source"].as_str() == Some("manual"))
            })
        })
        .or_else(|| {
            pools
                .iter()
                .find(|(_, a)| a.as_array().is_some_and(|a| !a.is_empty()))
        })
        .map(|(k, _)| k.clone())
}

fn fixture_env(s: &str) -> Env {
    Env::fixture(s)
}

#[test]
fn add_on_every_fixture_loses_nothing() {
    for s in rewritable() {
        let e = fixture_env(&s);
        let before = e.auth_json();
        let pool = pick_pool(&before).unwrap_or_else(|| "openrouter".into());
        let before_entries = entries(&before, &pool);
        let key = format!("sk-rewrite-add-{s}-0001");
        let out = e.add_key(&pool, &key, Some("rewrite-add"));
        assert_eq!(
            out.stdout,
            format!(
                "Added {pool} credential #{}: \"rewrite-add\"\n",
                before_entries.len() + 1
            ),
            "{s}"
        );
        let after = e.auth_json();
        let after_entries = entries(&after, &pool);
        assert_eq!(after_entries.len(), before_entries.len() + 1, "{s}");
        assert_eq!(
            &after_entries[..before_entries.len()],
            &before_entries[..],
            "{s}: existing entries unchanged, same order"
        );
        let new = after_entries.last().unwrap();
        assert_eq!(new["label"], "rewrite-add");
        assert_eq!(new["source"], "manual");
        assert_eq!(new["access_token"], json!(key));
        assert_eq!(
            rest(&after, &pool),
            rest(&before, &pool),
            "{s}: everything else unchanged"
        );
        if !pool.starts_with("custom:") {
            assert!(
                after["suppressed_sources"].get(&pool).is_none(),
                "{s}: add re-enables suppressed sources of {pool}"
            );
        }
    }
}

#[test]
fn remove_on_every_fixture_loses_nothing() {
    for s in rewritable() {
        let e = fixture_env(&s);
        let before = e.auth_json();
        let Some(pool) = pick_pool(&before) else {
            continue;
        };
        let before_entries = entries(&before, &pool);
        let target = before_entries[0].clone();
        let out = e.run(&["auth", "remove", &pool, "1"]).ok();
        assert_eq!(
            out.stdout.lines().next().unwrap(),
            format!(
                "Removed {pool} credential #1 ({})",
                target["label"].as_str().unwrap()
            ),
            "{s}"
        );
        let after = e.auth_json();
        let after_entries = entries(&after, &pool);
        assert_eq!(after_entries.len(), before_entries.len() - 1, "{s}");
        for (i, (a, b)) in after_entries.iter().zip(&before_entries[1..]).enumerate() {
            assert_eq!(a["priority"], json!(i), "{s}: priorities renumbered");
            assert_eq!(
                without(a, &["priority"]),
                without(b, &["priority"]),
                "{s}: entry kept whole, in order"
            );
        }
        if target["source"] == "manual" {
            assert_eq!(rest(&after, &pool), rest(&before, &pool), "{s}");
            assert_eq!(
                after["suppressed_sources"].get(&pool),
                before["suppressed_sources"].get(&pool),
                "{s}: removing a manual key suppresses nothing"
            );
        }
    }
}

#[test]
fn reset_on_every_fixture_loses_nothing() {
    for s in rewritable() {
        let e = fixture_env(&s);
        let before = e.auth_json();
        let pools: Vec<String> = before["credential_pool"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for pool in pools {
            let b = e.auth_json();
            let before_entries = entries(&b, &pool);
            let bad = before_entries
                .iter()
                .filter(|x| x["last_status"] == "exhausted" || x["last_status"] == "dead")
                .count();
            let out = e.run(&["auth", "reset", &pool]).ok();
            assert_eq!(
                out.stdout,
                format!("Reset status on {bad} {pool} credentials\n"),
                "{s}"
            );
            let after = e.auth_json();
            let after_entries = entries(&after, &pool);
            assert_eq!(after_entries.len(), before_entries.len(), "{s}/{pool}");
            for (a, b) in after_entries.iter().zip(&before_entries) {
                assert_eq!(
                    without(a, STATUS_FIELDS),
                    without(b, STATUS_FIELDS),
                    "{s}/{pool}"
                );
                for f in STATUS_FIELDS {
                    if b.get(*f).is_some() {
                        assert_eq!(a[*f], Value::Null, "{s}/{pool}: {f}");
                    }
                }
            }
            assert_eq!(rest(&after, &pool), rest(&b, &pool), "{s}/{pool}");
        }
    }
}

/// `auth list` / `auth status` on every fixture write auth.json only when the reference did
/// (seeding or the DEAD prune), and never anything else in HERMES_HOME.
#[test]
fn read_commands_write_only_when_needed() {
    for s in rewritable() {
        for cap in captures(&s) {
            if cap.argv[1] != "list" && cap.argv[1] != "status" {
                continue;
            }
            let e = fixture_env(&s);
            for (k, _) in common::env_txt(&fixtures_dir().join(&s).join("env.txt")) {
                e.unset(&k);
            }
            for (k, v) in &cap.env {
                e.set(k, v);
            }
            let names = e.home_listing();
            let before = e.auth_bytes();
            let args: Vec<&str> = cap.argv.iter().map(String::as_str).collect();
            e.run(&args).ok();
            let changed = e.auth_bytes() != before;
            // `list` writes only for seeding or the DEAD prune; `status nous` heals the stored
            // inference URL and writes the shared Nous store, as the reference does.
            let nous_status = s == "oauth-nous" && cap.name == "status-nous";
            let expect = cap.auth_json_changed && (cap.argv[1] == "list" || nous_status);
            assert_eq!(changed, expect, "{s}/{}", cap.name);
            if !nous_status {
                assert_eq!(e.home_listing(), names, "{s}/{}", cap.name);
            }
        }
    }
}

#[test]
fn map_helper_sanity() {
    // strip_waits parses the reference's duration forms.
    assert_eq!(
        strip_waits("x (59m 0s left) y (1d 1h left)"),
        (
            "x (… left) y (… left)".into(),
            vec![(3540, 1), (90000, 3600)]
        )
    );
    assert!(same_up_to_clock("a (59m 0s left)", "a (58m 58s left)"));
    assert!(!same_up_to_clock("a (59m 0s left)", "a (50m 58s left)"));
    let _ = Map::<String, Value>::new();
}
