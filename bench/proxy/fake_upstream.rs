//! Fake OpenAI-compatible upstream for `bench/proxy/run.sh`.
//!
//! `cargo run --release --example proxy_fake_upstream -- [--port P] [--delay-ms D]`
//! prints `LISTENING http://127.0.0.1:<port>` and answers every request with a 292-byte JSON
//! chat completion after an asynchronous `D` ms (default 0). A body containing
//! `"stream":true` gets an SSE stream of three events 20 ms apart and `data: [DONE]`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake upstream, padding padding."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;

async fn handle(State(delay): State<Duration>, req: Request) -> Response {
    let body = axum::body::to_bytes(req.into_body(), 10_000_000)
        .await
        .unwrap_or_default();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if memchr(&body, b"\"stream\":true") || memchr(&body, b"\"stream\": true") {
        let stream = futures_util::stream::unfold(0u32, |i| async move {
            match i {
                0..=2 => {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let ev = format!(
                        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n"
                    );
                    Some((Ok::<_, std::io::Error>(Bytes::from(ev)), i + 1))
                }
                3 => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), 4)),
                _ => None,
            }
        });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        return r;
    }
    let mut r = Response::new(Body::from(COMPLETION));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

fn memchr(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let delay = Duration::from_millis(arg("--delay-ms").and_then(|d| d.parse().ok()).unwrap_or(0));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("LISTENING http://{}", l.local_addr().unwrap());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let app = axum::Router::new().fallback(handle).with_state(delay);
    axum::serve(l, app).await.unwrap();
}
