//! The proxy's OAuth seam, in-process: a fake `TokenRefresher` plugged into the pool context
//! stands in for the OAuth layer (Nous refresh/mint). Checks that an expired Nous login is
//! refreshed exactly once, that concurrent 401s share one refresh and are retried once, and
//! that a temporary refresh failure is a 503, not a 401.

mod proxy_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use hermes::home::Home;
use hermes::pool::{CredentialPool, EnvSource, PoolContext, PoolEntry, PoolError, TokenRefresher};
use hermes::proxy::{self, ProxySettings, adapter};
use proxy_support::*;
use serde_json::json;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// An unsigned JWT with the Nous invoke scope, expiring at `exp`.
fn jwt(tag: &str, exp: f64) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = e.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p =
        e.encode(json!({"sub": tag, "scope": "inference:invoke", "exp": exp as i64}).to_string());
    format!("{h}.{p}.sig")
}

#[derive(Default)]
struct FakeRefresher {
    calls: AtomicUsize,
    fail_transient: AtomicBool,
    /// While set, a refresh waits (so a test can act while one is in flight).
    hold: AtomicBool,
}

impl TokenRefresher for FakeRefresher {
    fn needs_refresh(&self, _: &str, _: &PoolEntry, _: f64) -> bool {
        false
    }
    fn refresh(
        &self,
        ctx: &PoolContext,
        key: &str,
        entry: &PoolEntry,
    ) -> Result<PoolEntry, PoolError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        // Slow enough that concurrent 401s pile up behind it.
        std::thread::sleep(Duration::from_millis(200));
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.fail_transient.load(Ordering::SeqCst) {
            return Err(PoolError::Refresh {
                label: entry.label.clone(),
                message: "temporarily_unavailable".into(),
            });
        }
        let token = jwt(&format!("fresh-{n}"), now() + 3600.0);
        let mut pool = CredentialPool::load(ctx, key)?;
        let id = entry.id.clone();
        pool.mutate(|es| {
            for e in es.iter_mut().filter(|e| e.id == id) {
                e.access_token = Some(token.clone());
                e.expires_at = None;
            }
        })?;
        Ok(pool
            .entries()
            .iter()
            .find(|e| e.id == entry.id)
            .cloned()
            .expect("entry"))
    }
}

struct Setup {
    fake: Fake,
    env: Env,
    refresher: Arc<FakeRefresher>,
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn setup(access_token: String) -> Setup {
    let fake = fake().await;
    let env = Env::new();
    let doc = json!({"version": 1, "providers": {}, "credential_pool": {"nous": [{
        "id": "n1", "label": "nous-login", "auth_type": "oauth", "priority": 0,
        "source": "manual:device_code", "access_token": access_token,
        "refresh_token": "rt-1", "request_count": 0
    }]}});
    std::fs::write(env.auth_json(), doc.to_string()).unwrap();
    let home = Home::at(env.home());
    let mut process = HashMap::new();
    process.insert("NOUS_INFERENCE_BASE_URL".to_string(), fake.base());
    let mut ctx = PoolContext::new(
        home.clone(),
        hermes::store::Config::empty(&home),
        EnvSource::new(process, HashMap::new()),
        hermes::clock::system(),
    );
    let refresher = Arc::new(FakeRefresher::default());
    ctx.refresher = Some(refresher.clone());
    let settings = ProxySettings {
        adapter: adapter::find(&ctx, None, "nous").unwrap(),
        host: "127.0.0.1".into(),
        port: 0,
        allow_network: false,
        client_key: None,
        allow_origins: vec![],
        upstream_timeout: Duration::from_secs(30),
        refresh_timeout: Duration::from_secs(15),
    };
    let bound = proxy::bind(&settings, ctx).await.unwrap();
    let url = format!("http://{}/v1", bound.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    Setup {
        fake,
        env,
        refresher,
        url,
        stop: tx,
    }
}

fn bearers(f: &Fake) -> Vec<String> {
    f.log()
        .iter()
        .map(|r| r.header("authorization").join(","))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_login_is_refreshed_once_then_served_from_memory() {
    let s = setup(jwt("old", now() - 10.0)).await;
    let c = client();
    for _ in 0..3 {
        let r = c.get(format!("{}/models", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(s.refresher.calls.load(Ordering::SeqCst), 1);
    let b = bearers(&s.fake);
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|x| *x == b[0]), "same fresh token each time");
    let fresh = s.env.read_auth()["credential_pool"]["nous"][0]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b[0], format!("Bearer {fresh}"));
    let _ = s.stop.send(());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_401s_share_one_refresh_and_retry_once() {
    let s = setup(jwt("valid", now() + 3600.0)).await;
    for _ in 0..5 {
        s.fake.push(Scripted::status(401));
    }
    let c = client();
    let reqs = (0..5).map(|_| {
        let c = c.clone();
        let u = format!("{}/chat/completions", s.url);
        tokio::spawn(async move {
            c.post(u)
                .json(&json!({"model": "m"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    for r in futures_util::future::join_all(reqs).await {
        assert_eq!(r.unwrap(), 200);
    }
    assert_eq!(
        s.refresher.calls.load(Ordering::SeqCst),
        1,
        "one shared refresh"
    );
    assert_eq!(s.fake.log().len(), 10, "each request retried exactly once");

    // A 401 on the fresh token too: one more refresh, one retry, then the 401 is relayed.
    s.fake.push(Scripted::status(401));
    s.fake.push(Scripted::status(401));
    let r = c
        .post(format!("{}/chat/completions", s.url))
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.refresher.calls.load(Ordering::SeqCst), 2);
    assert_eq!(s.fake.log().len(), 12);
    let _ = s.stop.send(());
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_refresh_failure_is_503_and_health_stays_fast() {
    let s = setup(jwt("old", now() - 10.0)).await;
    s.refresher.fail_transient.store(true, Ordering::SeqCst);
    s.refresher.hold.store(true, Ordering::SeqCst);
    let c = client();
    let slow = {
        let c = c.clone();
        let u = format!("{}/models", s.url);
        tokio::spawn(async move { c.get(u).send().await.unwrap() })
    };
    eventually("refresh started", || {
        s.refresher.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    // /health and other work answer while the refresh is held (it is off the request path).
    let h = c.get(s.url.replace("/v1", "/health")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    assert!(!slow.is_finished());
    s.refresher.hold.store(false, Ordering::SeqCst);
    let r = slow.await.unwrap();
    assert_eq!(r.status(), 503);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "credential_refresh_unavailable");
    assert!(s.fake.log().is_empty());
    // The login is not marked: it recovers once the refresh works again.
    s.refresher.fail_transient.store(false, Ordering::SeqCst);
    let r = c.get(format!("{}/models", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = s.stop.send(());
}
