//! `hermes proxy`: the real binary against local fake upstreams.

mod proxy_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use proxy_support::*;
use serde_json::{Value, json};

const OR: &str = "openrouter";

fn chat() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

async fn setup(keys: &[(&str, &str)], args: &[&str]) -> (Fake, Env, Running) {
    let f = fake().await;
    let env = Env::new();
    env.seed(OR, &f.base(), keys);
    let mut a = vec!["--provider", OR];
    a.extend_from_slice(args);
    let p = start(&env, &a, &[]);
    (f, env, p)
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_never_reach_upstream_and_http_is_faithful() {
    let (f, _env, p) = setup(&[("k1", "sk-pool-1")], &[]).await;
    let c = client();
    let r = c
        .post(p.v1("/chat/completions?a=%26b&c=d%2Be&e=f+g&h=%25&x=%20y"))
        .header("authorization", "Bearer client-junk")
        .header("x-api-key", "sk-client")
        .header("x-dup", "1")
        .header("x-dup", "2")
        .header("x-custom", "abc")
        .header("content-encoding", "identity")
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 2, "repeated response headers kept");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["auth"], "Bearer sk-pool-1");
    let log = f.log();
    assert_eq!(log.len(), 1);
    let rec = &log[0];
    assert_eq!(
        rec.uri,
        "/v1/chat/completions?a=%26b&c=d%2Be&e=f+g&h=%25&x=%20y"
    );
    assert_eq!(rec.header("authorization"), vec!["Bearer sk-pool-1"]);
    assert!(rec.header("x-api-key").is_empty());
    assert_eq!(rec.header("x-dup"), vec!["1", "2"]);
    assert_eq!(rec.header("x-custom"), vec!["abc"]);
    assert_eq!(rec.header("content-encoding"), vec!["identity"]);
    let all = format!("{:?}", rec.headers);
    assert!(!all.contains("client-junk") && !all.contains("sk-client"));

    // Response bodies keep their encoding: bytes and header untouched.
    let gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3];
    f.push(Scripted::Status {
        status: 200,
        headers: vec![("content-encoding".into(), "gzip".into())],
        body: gz.clone(),
    });
    let r = c
        .get(p.v1("/models"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.bytes().await.unwrap().to_vec(), gz);

    // /health
    let h: Value = c
        .get(format!("http://{}/health", p.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        h,
        json!({"status": "ok", "upstream": "OpenRouter", "authenticated": true})
    );
    let r = c
        .post(format!("http://{}/health", p.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET,HEAD");
}

async fn wait_mark(env: &Env, label: &str, code: i64) -> Value {
    let mut last = Value::Null;
    eventually("the mark on disk", || {
        last = env.entry(OR, label);
        last["last_status"] == "exhausted" && last["last_error_code"] == code
    })
    .await;
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_on_429_retries_once_then_rotates_with_the_same_request() {
    let (f, env, p) = setup(&[("k1", "sk-1"), ("k2", "sk-2")], &[]).await;
    f.push(Scripted::status(429).with_header("retry-after", "0"));
    f.push(Scripted::status(429).with_header("retry-after", "0"));
    let r = client()
        .post(p.v1("/chat/completions"))
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = f.log();
    let bearers: Vec<String> = log
        .iter()
        .map(|r| r.header("authorization")[0].clone())
        .collect();
    assert_eq!(bearers, ["Bearer sk-1", "Bearer sk-1", "Bearer sk-2"]);
    assert!(
        log.iter()
            .all(|r| r.body == log[0].body && !r.body.is_empty())
    );
    wait_mark(&env, "k1", 429).await;
    let list = env.cmd().args(["auth", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("429"), "{text}");

    // k1 is cooling: the next request goes straight to k2.
    let r = client().get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        f.log().last().unwrap().header("authorization"),
        ["Bearer sk-2"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_retry_after_rotates_at_once_and_402_401_rotate() {
    let (f, env, p) = setup(&[("k1", "sk-1"), ("k2", "sk-2"), ("k3", "sk-3")], &[]).await;
    f.push(Scripted::status(429).with_header("retry-after", "60"));
    f.push(Scripted::status(402));
    f.push(Scripted::status(401));
    let r = client()
        .post(p.v1("/chat/completions"))
        .json(&chat())
        .send()
        .await
        .unwrap();
    // 429 (60 s) → rotate to k2; 402 → rotate to k3; 401 (API key) → nothing left: relayed.
    assert_eq!(r.status(), 401);
    let bearers: Vec<String> = f
        .log()
        .iter()
        .map(|r| r.header("authorization")[0].clone())
        .collect();
    assert_eq!(bearers, ["Bearer sk-1", "Bearer sk-2", "Bearer sk-3"]);
    let k1 = wait_mark(&env, "k1", 429).await;
    let reset = k1["last_error_reset_at"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (reset - now - 60.0).abs() < 10.0,
        "reset honours Retry-After"
    );
    wait_mark(&env, "k2", 402).await;
    wait_mark(&env, "k3", 401).await;

    // Everything cooling: 429 in OpenAI's format, Retry-After = earliest reset, no upstream call.
    let before = f.log().len();
    let r = client()
        .post(p.v1("/chat/completions"))
        .json(&chat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&ra),
        "earliest reset is k1's 60 s or k3's 300 s: {ra}"
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "rate_limit_exceeded");
    assert!(b["error"]["message"].is_string() && b["error"]["type"].is_string());
    assert_eq!(f.log().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn all_cooling_on_disk_answers_429_without_calling_upstream() {
    let f = fake().await;
    let env = Env::new();
    env.seed(OR, &f.base(), &[("k1", "sk-1")]);
    let mut doc = env.read_auth();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let e = &mut doc["credential_pool"][OR][0];
    e["last_status"] = json!("exhausted");
    e["last_status_at"] = json!(now);
    e["last_error_code"] = json!(429);
    e["last_error_reset_at"] = json!(now + 120.0);
    std::fs::write(env.auth_json(), doc.to_string()).unwrap();
    let p = start(&env, &["--provider", OR], &[]);
    let r = client().get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((100..=121).contains(&ra), "{ra}");
    assert!(f.log().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_arrives_incrementally_and_disconnect_cancels_upstream() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &[]).await;
    let c = client();
    let mut r = c
        .post(p.v1("/chat/completions"))
        .json(&json!({"model": "m", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The upstream holds its second event until released: the first must already be here.
    let first = tokio::time::timeout(Duration::from_secs(10), r.chunk())
        .await
        .expect("first event before upstream finished")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: {\"n\":0}\n\n");
    f.state.release.notify_one();
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));

    // Client goes away mid-stream: the upstream stream is dropped soon after.
    let mut r = c
        .post(p.v1("/chat/completions"))
        .json(&json!({"model": "m", "slowstream": true}))
        .send()
        .await
        .unwrap();
    let _ = r.chunk().await.unwrap();
    drop(r);
    eventually("upstream stream cancelled", || {
        f.state.stream_dropped.load(Ordering::SeqCst)
    })
    .await;
    assert!(f.state.ticks_sent.load(Ordering::SeqCst) < 200);
    // Still serving.
    let r = c.get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_upstream_body_is_not_a_clean_response() {
    use std::io::{Read, Write};
    // A raw upstream that promises 100 000 bytes (or chunks), sends 5 000 and hangs up.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for (i, c) in l.incoming().enumerate() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 65536];
            let _ = c.read(&mut buf);
            let head: &[u8] = if i % 2 == 0 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n"
            };
            let _ = c.write_all(head);
            let _ = c.write_all(&[b'x'; 5000]);
        }
    });
    let env = Env::new();
    env.seed(OR, &base, &[("k1", "sk-1")]);
    let p = start(&env, &["--provider", OR], &[]);
    for _ in 0..2 {
        let r = client().get(p.v1("/models")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.is_err(), "the client must see the loss");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_are_kept_alive() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &[]).await;
    let c = client();
    for _ in 0..20 {
        let r = c
            .post(p.v1("/chat/completions"))
            .json(&chat())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(f.log().len(), 20);
    assert!(f.conns() <= 2, "{} upstream connections", f.conns());
}

#[tokio::test(flavor = "multi_thread")]
async fn disallowed_and_traversal_paths_are_404_without_upstream() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &[]).await;
    for path in [
        "/",
        "/v1",
        "/v2/models",
        "/V1/models",
        "/v1/models/x",
        "/v1/responses",
        "/v1/../v1/models",
        "/v1/./models",
        "/v1/%2e%2e/v1/models",
        "/v1%2fmodels",
        "/v1/chat%2Fcompletions",
    ] {
        let out = raw(
            p.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        assert!(out.starts_with("HTTP/1.1 404"), "{path}: {out}");
        assert!(
            out.contains("\"code\":\"path_not_allowed\""),
            "{path}: {out}"
        );
        assert!(
            out.contains("/v1/chat/completions"),
            "{path}: lists allowed paths"
        );
    }
    assert!(f.log().is_empty());
    // Equivalent spellings are forwarded.
    let out = raw(
        p.addr,
        "GET /v1//models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(f.log()[0].uri, "/v1/models");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_413() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &[]).await;
    let c = client();
    let r = c
        .post(p.v1("/chat/completions"))
        .body(vec![b'a'; 10_000_001])
        .send()
        .await;
    // The proxy may answer before reading the body and close; either way no upstream call.
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..11).map(|_| Ok(vec![b'a'; 1_000_000])).collect();
    let r = c
        .post(p.v1("/chat/completions"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    assert!(f.log().is_empty());
    let r = client()
        .post(p.v1("/chat/completions"))
        .body(vec![b'a'; 10_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(f.log()[0].body.len(), 10_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_and_origin_gates() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &["--allow-origin", "https://ok.example"]).await;
    let req = |host: &str, origin: Option<&str>| {
        let o = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        raw(
            p.addr,
            &format!("GET /v1/models HTTP/1.1\r\nHost: {host}\r\n{o}Connection: close\r\n\r\n"),
        )
    };
    assert!(req("attacker.example", None).starts_with("HTTP/1.1 403"));
    assert!(req("attacker.example:8645", None).starts_with("HTTP/1.1 403"));
    assert!(req("127.0.0.1", Some("https://attacker.example")).starts_with("HTTP/1.1 403"));
    assert!(f.log().is_empty());
    assert!(req("localhost:1", None).starts_with("HTTP/1.1 200"));
    assert!(req("127.0.0.1", Some("http://localhost:3000")).starts_with("HTTP/1.1 200"));
    let ok = req("127.0.0.1", Some("https://ok.example"));
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(
        ok.to_lowercase()
            .contains("access-control-allow-origin: https://ok.example")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_key_is_required_and_stripped() {
    let (f, _env, p) = setup(&[("k1", "sk-1")], &["--client-key", "let-me-in"]).await;
    let c = client();
    let r = c.get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "invalid_client_key");
    let r = c
        .get(p.v1("/models"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(f.log().is_empty());
    let r = c
        .get(p.v1("/models"))
        .bearer_auth("let-me-in")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(p.v1("/models"))
        .header("x-api-key", "let-me-in")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all = format!("{:?}", f.log());
    assert!(!all.contains("let-me-in"));
    assert_eq!(f.log()[1].header("authorization"), ["Bearer sk-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_upstream_is_502_and_slow_head_is_504() {
    let f = fake().await;
    let env = Env::new();
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    env.seed(OR, &dead_url, &[("k1", "sk-1")]);
    let p = start(&env, &["--provider", OR, "--upstream-timeout", "1"], &[]);
    let r = client().get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "upstream_unreachable");
    drop(p);

    env.seed(OR, &f.base(), &[("k1", "sk-1")]);
    let p = start(&env, &["--provider", OR, "--upstream-timeout", "1"], &[]);
    f.push(Scripted::DelayHead(Duration::from_secs(3)));
    let r = client().get(p.v1("/models")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "upstream_timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_while_running_and_after_stop() {
    let (_f, env, mut p) = setup(&[("k1", "sk-1")], &[]).await;
    let c = client();
    for _ in 0..3 {
        let r = c.get(p.v1("/models")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut v = Value::Null;
    eventually("status shows 3 requests", || {
        let out = env
            .cmd()
            .args(["proxy", "status", "--json"])
            .output()
            .unwrap();
        v = serde_json::from_slice(&out.stdout).unwrap();
        v["running"][0]["requests_served"] == 3
    })
    .await;
    assert_eq!(v["schema"], 1);
    assert_eq!(v["running"][0]["address"], p.url);
    assert_eq!(v["running"][0]["provider"], OR);
    assert_eq!(v["running"][0]["credential_label"], "k1");
    let text = env.cmd().args(["proxy", "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&p.url) && text.contains("k1"), "{text}");
    assert!(!text.contains("sk-1"));

    let st = p.stop();
    assert!(st.success());
    let out = env
        .cmd()
        .args(["proxy", "status", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["running"], json!([]));
    let left: Vec<_> = std::fs::read_dir(env.home().join("proxy"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "state file removed");
    // request_count flushed on shutdown.
    assert_eq!(env.entry(OR, "k1")["request_count"], 3);
}

#[test]
fn start_refuses_before_binding() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["proxy", "start", "--provider", "custom:local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hermes auth add custom:local"), "{err}");
    let out = env.cmd().args(["proxy", "start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hermes auth add nous"));
    let out = env
        .cmd()
        .args(["proxy", "start", "--provider", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    env.seed(OR, "http://127.0.0.1:9/v1", &[("k1", "sk-1")]);
    for host in ["0.0.0.0", "::"] {
        let out = env
            .cmd()
            .args([
                "proxy",
                "start",
                "--provider",
                OR,
                "--host",
                host,
                "--port",
                "0",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-network"));
    }
    // --allow-network alone is not enough: a client key is required too.
    let out = env
        .cmd()
        .args([
            "proxy",
            "start",
            "--provider",
            OR,
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--allow-network",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn providers_lists_names_first() {
    let env = Env::new();
    std::fs::write(
        env.home().join("config.yaml"),
        "custom_providers:\n- name: Local\n  base_url: http://127.0.0.1:9/v1\n",
    )
    .unwrap();
    let out = env.cmd().args(["proxy", "providers"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(&names[..2], ["nous", "xai"]);
    for n in ["openrouter", "anthropic", "custom:local"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_messages_pass_through_with_x_api_key() {
    let f = fake().await;
    let env = Env::new();
    // Anthropic-style base URLs have no /v1; the proxy adds it back.
    env.seed(
        "anthropic",
        &format!("http://{}", f.addr),
        &[("a1", "sk-ant-api-1")],
    );
    let p = start(&env, &["--provider", "anthropic"], &[]);
    let r = client()
        .post(p.v1("/messages?beta=true"))
        .header("x-api-key", "sk-client")
        .header("authorization", "Bearer client-junk")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude", "max_tokens": 1, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rec = &f.log()[0];
    assert_eq!(rec.uri, "/v1/messages?beta=true");
    assert_eq!(rec.header("x-api-key"), ["sk-ant-api-1"]);
    assert!(rec.header("authorization").is_empty());
    assert_eq!(rec.header("anthropic-version"), ["2023-06-01"]);
    // OpenAI paths are not Anthropic's.
    let r = client()
        .post(p.v1("/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_stream_finish_then_exits_cleanly() {
    let (f, env, mut p) = setup(&[("k1", "sk-1")], &[]).await;
    let mut r = client()
        .post(p.v1("/chat/completions"))
        .json(&json!({"model": "m", "stream": true}))
        .send()
        .await
        .unwrap();
    let _ = r.chunk().await.unwrap().unwrap();
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(p.child.id() as i32, libc::SIGTERM);
    }
    // New connections are refused once the signal is handled; the stream in flight goes on.
    eventually("listener closed", || {
        std::net::TcpStream::connect(p.addr).is_err()
    })
    .await;
    assert!(p.child.try_wait().unwrap().is_none());
    f.state.release.notify_one();
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
    let st = p.stop();
    assert!(st.success());
    assert_eq!(env.entry(OR, "k1")["request_count"], 1);
}
