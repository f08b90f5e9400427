//! `hermes proxy --provider nous` end to end: the real binary with the real OAuth refresher
//! against a local fake Nous portal + inference upstream.

mod proxy_support;

use proxy_support::*;
use serde_json::json;

fn count(f: &Fake, path: &str) -> usize {
    f.log().iter().filter(|r| r.uri.starts_with(path)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn nous_refreshes_an_expired_login_once_and_retries_once_on_401() {
    let f = fake().await;
    *f.state.portal_rt.lock().unwrap() = "rt-0".into();
    let env = Env::new();
    let portal = format!("http://{}", f.addr);
    let expired = invoke_jwt("old", epoch() - 60);
    let doc = json!({"version": 1, "active_provider": "nous", "providers": {"nous": {
        "client_id": "hermes-cli",
        "portal_base_url": portal,
        "inference_base_url": f.base(),
        "token_type": "Bearer",
        "scope": "inference:invoke",
        "access_token": expired,
        "refresh_token": "rt-0",
        "expires_at": "2020-01-01T00:00:00+00:00",
    }}});
    std::fs::write(env.auth_json(), doc.to_string()).unwrap();
    let shared = env.home().join("shared");
    let p = start(
        &env,
        &["--provider", "nous"],
        &[
            ("NOUS_INFERENCE_BASE_URL", &f.base()),
            ("HERMES_PORTAL_BASE_URL", &portal),
            ("HERMES_SHARED_AUTH_DIR", shared.to_str().unwrap()),
        ],
    );
    let c = client();
    let r = c
        .post(p.v1("/chat/completions"))
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(count(&f, "/api/oauth/token"), 1, "{:?}", f.log());
    let inference: Vec<_> = f
        .log()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/"))
        .collect();
    assert_eq!(inference.len(), 1);
    let fresh1 = format!("Bearer {}", invoke_jwt("fresh-1", 0));
    let got = inference[0].header("authorization")[0].clone();
    assert!(got.starts_with(&fresh1[..fresh1.find('.').unwrap()]));
    assert_ne!(got, format!("Bearer {expired}"));

    // Upstream rejects the fresh bearer once: one forced refresh, one retry with the new one.
    f.push(Scripted::status(401));
    let r = c
        .post(p.v1("/chat/completions"))
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(count(&f, "/api/oauth/token"), 2, "{:?}", f.log());
    let inference: Vec<_> = f
        .log()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/"))
        .collect();
    assert_eq!(inference.len(), 3);
    assert_eq!(
        inference[1].header("authorization"),
        inference[0].header("authorization")
    );
    assert_ne!(
        inference[2].header("authorization"),
        inference[1].header("authorization")
    );
    let a = env.read_auth();
    assert_eq!(a["providers"]["nous"]["refresh_token"], "rt-2");
}
