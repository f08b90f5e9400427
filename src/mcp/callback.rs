//! The loopback redirect listener and the pasted-redirect fallback of the browser logins.
//!
//! One small HTTP/1.1 responder on `127.0.0.1` waits for the authorization server's redirect,
//! while (on a terminal) a line pasted on stdin (the redirect URL, its query, `code=…`, or the
//! bare code) completes the flow just as well. Whichever arrives first wins.
//!
//! Note for consolidation: this is a generic PKCE loopback engine (also used by Honcho); a
//! provider-wide one in `providers::oauth` can replace it.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

/// What the redirect carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207 issuer identification.
    pub iss: Option<String>,
}

impl CallbackParams {
    fn from_query(query: &str) -> Self {
        let mut p = Self::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned()).filter(|v| !v.is_empty());
            match k.as_ref() {
                "code" => p.code = v,
                "state" => p.state = v,
                "error" => p.error = v,
                "error_description" => p.error_description = v,
                "iss" => p.iss = v,
                _ => {}
            }
        }
        p
    }
    fn is_answer(&self) -> bool {
        self.code.is_some() || self.error.is_some()
    }
}

/// A bound loopback listener (bound early so the port is known for the redirect URI).
#[derive(Debug)]
pub struct Loopback {
    listener: StdListener,
    port: u16,
}

impl Loopback {
    /// Binds `127.0.0.1:<port>` (0 = an ephemeral port).
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = StdListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The browser reached the listener.
    Redirect(CallbackParams),
    /// The user pasted the redirect (or the code) on stdin.
    Pasted(CallbackParams),
    /// The user typed `skip`/`cancel`/`q`….
    Skipped,
    TimedOut,
}

/// What to accept and what to show in the browser.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Only this path answers (others get 404); `None` = any path.
    pub path: Option<String>,
    pub success_text: String,
    pub timeout: Duration,
}

/// The parsed form of one pasted line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paste {
    Params(CallbackParams),
    Skip,
    /// Not understood; the reason is shown and the wait goes on.
    Ignored(&'static str),
}

const SKIP_WORDS: [&str; 7] = ["skip", "cancel", "s", "n", "no", "q", "quit"];

/// Parses a pasted redirect URL, `?code=…&state=…`, `code=…`, or a bare code.
pub fn parse_paste(line: &str) -> Paste {
    let line = line.trim();
    if line.is_empty() {
        return Paste::Ignored("empty input");
    }
    if SKIP_WORDS.contains(&line.to_ascii_lowercase().as_str()) {
        return Paste::Skip;
    }
    let query = match line.split_once('?') {
        Some((_, q)) => q,
        None => line,
    };
    let query = query.split('#').next().unwrap_or(query);
    if query.contains('=') {
        let p = CallbackParams::from_query(query);
        if p.is_answer() {
            return Paste::Params(p);
        }
        return Paste::Ignored("the pasted text has no code= or error=");
    }
    if line.contains(char::is_whitespace) || line.contains('/') {
        return Paste::Ignored("the pasted text is not a redirect URL or a code");
    }
    Paste::Params(CallbackParams {
        code: Some(line.to_string()),
        ..Default::default()
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: &str, title: &str, body: &str) -> Vec<u8> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h2>{t}</h2><p>{b}</p></body></html>",
        t = html_escape(title),
        b = html_escape(body)
    );
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{html}",
        html.len()
    )
    .into_bytes()
}

/// Reads one request head; returns its path and query.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some((path.to_string(), query.to_string()))
}

/// Waits for the redirect, a pasted line, or the timeout.
pub async fn wait(
    loopback: Loopback,
    mut paste: Option<&mut UnboundedReceiver<String>>,
    opts: &WaitOptions,
) -> std::io::Result<Outcome> {
    let listener = TcpListener::from_std(loopback.listener)?;
    let deadline = tokio::time::Instant::now() + opts.timeout;
    loop {
        let pasted = async {
            match paste.as_deref_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(Outcome::TimedOut),
            line = pasted => {
                match line {
                    // stdin closed: keep waiting for the browser only.
                    None => paste = None,
                    Some(line) => match parse_paste(&line) {
                        Paste::Skip => return Ok(Outcome::Skipped),
                        Paste::Params(p) => return Ok(Outcome::Pasted(p)),
                        Paste::Ignored(why) => {
                            eprintln!("  Could not use the pasted input ({why}) — ignoring.");
                        }
                    },
                }
            }
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let Some((path, query)) = read_request(&mut stream).await else { continue };
                if opts.path.as_deref().is_some_and(|want| want != path) {
                    let _ = stream.write_all(&page("404 Not Found", "Not found", "")).await;
                    continue;
                }
                let params = CallbackParams::from_query(&query);
                if !params.is_answer() {
                    let _ = stream
                        .write_all(&page("400 Bad Request", "Waiting for authorization", "This request carried no authorization code."))
                        .await;
                    continue;
                }
                let response = match &params.error {
                    Some(e) => page("200 OK", "Authorization failed", &format!("Authorization failed: {e}. You can close this tab and return to Hermes.")),
                    None => page("200 OK", "Authorization complete", &opts.success_text),
                };
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
                return Ok(Outcome::Redirect(params));
            }
        }
    }
}

/// Compares two secrets without an early exit on the first differing byte.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lines typed on stdin, read on a background thread (it ends at EOF). Create it once per
/// process: the thread cannot be stopped, so a second reader would race the first.
pub fn stdin_lines() -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.trim().to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_forms() {
        let full = parse_paste("http://127.0.0.1:5/callback?code=abc&state=xyz&iss=http%3A%2F%2Fi");
        assert_eq!(
            full,
            Paste::Params(CallbackParams {
                code: Some("abc".into()),
                state: Some("xyz".into()),
                iss: Some("http://i".into()),
                ..Default::default()
            })
        );
        assert!(
            matches!(parse_paste("?code=a&state=b"), Paste::Params(p) if p.code.as_deref() == Some("a"))
        );
        assert!(matches!(parse_paste("code=a"), Paste::Params(p) if p.state.is_none()));
        assert!(
            matches!(parse_paste("rawcode123"), Paste::Params(p) if p.code.as_deref() == Some("rawcode123"))
        );
        assert_eq!(parse_paste(" SKIP "), Paste::Skip);
        assert!(matches!(parse_paste("foo=bar"), Paste::Ignored(_)));
        assert!(matches!(parse_paste("two words"), Paste::Ignored(_)));
        assert!(
            matches!(parse_paste("error=access_denied"), Paste::Params(p) if p.error.as_deref() == Some("access_denied"))
        );
    }

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[tokio::test]
    async fn redirect_wins_and_ignores_other_requests() {
        let lb = Loopback::bind(0).unwrap();
        let port = lb.port();
        let opts = WaitOptions {
            path: Some("/callback".into()),
            success_text: "ok".into(),
            timeout: Duration::from_secs(10),
        };
        let task = tokio::spawn(async move { wait(lb, None, &opts).await.unwrap() });
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(get("/callback").await.starts_with("HTTP/1.1 400"));
        assert!(
            get("/callback?code=c1&state=s1")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let out = task.await.unwrap();
        assert!(
            matches!(out, Outcome::Redirect(p) if p.code.as_deref() == Some("c1") && p.state.as_deref() == Some("s1"))
        );
    }

    #[tokio::test]
    async fn times_out() {
        let lb = Loopback::bind(0).unwrap();
        let opts = WaitOptions {
            path: None,
            success_text: "ok".into(),
            timeout: Duration::from_millis(50),
        };
        assert_eq!(wait(lb, None, &opts).await.unwrap(), Outcome::TimedOut);
    }

    #[tokio::test]
    async fn paste_wins() {
        let lb = Loopback::bind(0).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send("nonsense words".to_string()).unwrap();
        tx.send("code=zz&state=s".to_string()).unwrap();
        let opts = WaitOptions {
            path: None,
            success_text: "ok".into(),
            timeout: Duration::from_secs(5),
        };
        let out = wait(lb, Some(&mut rx), &opts).await.unwrap();
        assert!(matches!(out, Outcome::Pasted(p) if p.code.as_deref() == Some("zz")));
    }
}
