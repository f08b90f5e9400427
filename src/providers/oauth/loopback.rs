//! The one loopback redirect receiver of every browser login (PKCE logins, `hermes mcp login`,
//! Honcho sign-in): a small HTTP listener on 127.0.0.1 that takes the authorization response,
//! answers the browser with a short page, and races a code pasted on standard input (for SSH
//! sessions whose browser runs elsewhere).
//!
//! The listener is served on a thread (no runtime needed); two ways to wait on it:
//! [`start`] / [`wait_for_code`] for the provider logins (blocking; `state` checked here; the
//! code is returned), and [`wait_redirect`] for async callers (MCP, Honcho) that check `state`
//! and `iss` themselves and share one stdin reader ([`stdin_lines`]) across flows.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::pkce::{FlowError, parse_pasted};

/// Where to listen and what to answer.
#[derive(Debug, Clone)]
pub struct LoopbackConfig {
    /// `127.0.0.1`, `localhost` or `::1` (the redirect URI's host).
    pub host: String,
    /// 0 = let the OS choose.
    pub port: u16,
    /// The redirect path (`/oauth2callback`); other paths get 404. Empty: any path.
    pub path: String,
    /// Bind an OS-assigned port when `port` is busy (the redirect URI then changes).
    pub fallback_ephemeral: bool,
    /// The title of the page shown after a good callback.
    pub success_title: String,
    /// Its text.
    pub success_text: String,
    /// The title of the page shown after an error or a wrong state.
    pub failure_title: String,
}

impl LoopbackConfig {
    /// `127.0.0.1:<port>` (0 = ephemeral), answering on `path` (empty = any), no fallback.
    pub fn local(port: u16, path: &str, success_title: &str, success_text: &str) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            fallback_ephemeral: false,
            success_title: success_title.into(),
            success_text: success_text.into(),
            failure_title: "Authorization failed".into(),
        }
    }
}

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    cfg: LoopbackConfig,
    port: u16,
}

impl Loopback {
    /// Binds the listener. `Err` carries the OS error text.
    pub fn bind(cfg: LoopbackConfig) -> Result<Self, String> {
        let host = if cfg.host == "localhost" {
            "127.0.0.1"
        } else {
            cfg.host.trim_start_matches('[').trim_end_matches(']')
        };
        let addr = |port: u16| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        };
        let listener = match TcpListener::bind(addr(cfg.port)) {
            Ok(l) => l,
            Err(e) if cfg.fallback_ephemeral && cfg.port != 0 => {
                TcpListener::bind(addr(0)).map_err(|e2| format!("{e}; ephemeral port: {e2}"))?
            }
            Err(e) => return Err(e.to_string()),
        };
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        Ok(Self {
            listener,
            cfg,
            port,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to advertise (`http://<host>:<port><path>`).
    pub fn redirect_uri(&self) -> String {
        let host = if self.cfg.host.contains(':') && !self.cfg.host.starts_with('[') {
            format!("[{}]", self.cfg.host)
        } else {
            self.cfg.host.clone()
        };
        format!("http://{host}:{}{}", self.port, self.cfg.path)
    }
}

/// What an authorization response (redirect or paste) carried.
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
    /// From a query string (empty values count as absent).
    pub fn from_query(query: &str) -> Self {
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
    /// A code or an error: the end of the authorization step.
    pub fn is_answer(&self) -> bool {
        self.code.is_some() || self.error.is_some()
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

// ---- the listener ----

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn respond(stream: &mut TcpStream, status: &str, title: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{t}</h1><p>{b}</p></body></html>",
        t = html_escape(title),
        b = html_escape(text)
    );
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.flush();
}

/// Reads the request head (up to 16 KiB) and returns its method and target.
fn read_target(stream: &mut TcpStream) -> Option<(String, String)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let first = text.lines().next()?;
    let mut parts = first.split_whitespace();
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

const CLOSE_TAB: &str = "You can close this tab and return to the terminal.";

/// Serves one connection; `Some` when it carried an authorization response. With
/// `expected_state`, a response whose state differs gets the failure page.
fn serve_one(
    stream: &mut TcpStream,
    cfg: &LoopbackConfig,
    expected_state: Option<&str>,
) -> Option<CallbackParams> {
    let (method, target) = read_target(stream)?;
    let url = url::Url::parse(&format!("http://loopback{target}")).ok()?;
    if !cfg.path.is_empty() && url.path() != cfg.path {
        respond(stream, "404 Not Found", "Not found", "");
        return None;
    }
    if method != "GET" {
        respond(stream, "405 Method Not Allowed", "Method not allowed", "");
        return None;
    }
    let p = CallbackParams::from_query(url.query().unwrap_or(""));
    if !p.is_answer() {
        respond(
            stream,
            "400 Bad Request",
            "Waiting for authorization",
            "This request carried no authorization code.",
        );
        return None;
    }
    let state_ok =
        expected_state.is_none_or(|want| constant_time_eq(p.state.as_deref().unwrap_or(""), want));
    if let Some(e) = &p.error {
        let text = format!("The provider reported an error: {e}. {CLOSE_TAB}");
        respond(stream, "400 Bad Request", &cfg.failure_title, &text);
    } else if !state_ok {
        let text = format!("The state parameter did not match this login. {CLOSE_TAB}");
        respond(stream, "400 Bad Request", &cfg.failure_title, &text);
    } else {
        respond(stream, "200 OK", &cfg.success_title, &cfg.success_text);
    }
    Some(p)
}

/// Stops the serving thread (and so frees the port) when dropped.
struct Serving {
    stop: Arc<AtomicBool>,
    addr: Option<SocketAddr>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.addr {
            // Wakes a thread blocked in accept(); it sees `stop` and returns.
            let _ = TcpStream::connect_timeout(&a, Duration::from_millis(200));
        }
    }
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Serving")
    }
}

/// Serves the listener on a thread until one authorization response arrives (handed to `send`)
/// or the returned guard is dropped.
fn serve(
    lb: Loopback,
    expected_state: Option<String>,
    send: Box<dyn Fn(CallbackParams) + Send>,
) -> Serving {
    let Loopback { listener, cfg, .. } = lb;
    let stop = Arc::new(AtomicBool::new(false));
    let addr = listener.local_addr().ok();
    let flag = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            let Ok(mut stream) = conn else { continue };
            if let Some(p) = serve_one(&mut stream, &cfg, expected_state.as_deref()) {
                send(p);
                return;
            }
        }
    });
    Serving { stop, addr }
}

// ---- blocking wait of the provider logins ----

/// What ended the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The browser came back to the loopback listener.
    Callback(String),
    /// The user pasted a code or redirect URL.
    Pasted(String),
}

enum Event {
    Done(Result<Received, FlowError>),
    PasteClosed,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Event")
    }
}

/// How to wait for the authorization response.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub expected_state: String,
    pub timeout: Duration,
    /// Also read a pasted redirect URL / `code#state` / code from standard input.
    pub accept_paste: bool,
}

/// Serves the listener (and, with `accept_paste`, reads standard input) until an
/// authorization code arrives, an error or a wrong state is reported, or the timeout passes.
///
/// A pasted value that carries a state must match `expected_state`; a bare code is trusted
/// (the user typed it into this very terminal). End of input on standard input just stops
/// reading it. Returns the code.
pub fn wait_for_code(lb: Loopback, opts: &WaitOptions) -> Result<Received, WaitError> {
    start(lb, opts).wait()
}

/// A login whose listener (and paste reader) is running; see [`start`].
#[derive(Debug)]
pub struct Pending {
    rx: mpsc::Receiver<Event>,
    deadline: Instant,
    _serving: Serving,
}

/// The login's answer from a callback: an error, a wrong state, or the code.
fn callback_result(p: CallbackParams, expected_state: &str) -> Result<Received, FlowError> {
    if let Some(err) = p.error {
        let desc = p.error_description.unwrap_or_else(|| err.clone());
        return Err(FlowError::new(desc).code(err));
    }
    if !constant_time_eq(p.state.as_deref().unwrap_or(""), expected_state) {
        return Err(FlowError::new("state mismatch.").code("state_mismatch"));
    }
    Ok(Received::Callback(p.code.unwrap_or_default()))
}

/// Starts serving the listener (and reading pastes) in the background, so the browser can
/// be opened afterwards without racing the listener; the timeout counts from here.
pub fn start(lb: Loopback, opts: &WaitOptions) -> Pending {
    let (tx, rx) = mpsc::channel::<Event>();
    let state = opts.expected_state.clone();
    let server_tx = tx.clone();
    let serving = serve(
        lb,
        Some(state.clone()),
        Box::new(move |p| {
            let _ = server_tx.send(Event::Done(callback_result(p, &state)));
        }),
    );
    if opts.accept_paste {
        let paste_tx = tx.clone();
        let state = opts.expected_state.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            loop {
                let mut line = String::new();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        let _ = paste_tx.send(Event::PasteClosed);
                        return;
                    }
                    Ok(_) => {}
                }
                match parse_pasted(&line) {
                    Ok(None) => continue,
                    Ok(Some(p)) => {
                        let outcome = match p.state {
                            Some(s) if !constant_time_eq(&s, &state) => {
                                Err(FlowError::new("state mismatch.").code("state_mismatch"))
                            }
                            _ => Ok(Received::Pasted(p.code)),
                        };
                        let _ = paste_tx.send(Event::Done(outcome));
                        return;
                    }
                    Err(e) => {
                        let _ = paste_tx.send(Event::Done(Err(e)));
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    Pending {
        rx,
        deadline: Instant::now() + opts.timeout,
        _serving: serving,
    }
}

impl Pending {
    /// Waits for the code (see [`wait_for_code`]).
    pub fn wait(self) -> Result<Received, WaitError> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Event::Done(Ok(r))) => return Ok(r),
                Ok(Event::Done(Err(e))) => return Err(WaitError::Flow(e)),
                Ok(Event::PasteClosed) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(WaitError::TimedOut),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(WaitError::TimedOut),
            }
        }
    }
}

/// Why [`wait_for_code`] ended without a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("timed out waiting for the authorization callback")]
    TimedOut,
    #[error(transparent)]
    Flow(FlowError),
}

// ---- async wait of MCP and Honcho (caller checks state and issuer) ----

/// How [`wait_redirect`] ended.
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

/// Waits for the redirect, a pasted line, or the timeout. The listener answers any
/// authorization response with the success page; the caller checks state and issuer.
pub async fn wait_redirect(
    loopback: Loopback,
    mut paste: Option<&mut UnboundedReceiver<String>>,
    timeout: Duration,
) -> Outcome {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _serving = serve(
        loopback,
        None,
        Box::new(move |p| {
            let _ = tx.send(p);
        }),
    );
    let mut redirects = Some(rx);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pasted = async {
            match paste.as_deref_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let redirect = async {
            match redirects.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Outcome::TimedOut,
            got = redirect => match got {
                Some(p) => return Outcome::Redirect(p),
                // The listener stopped (accept failed): pastes and the timeout remain.
                None => redirects = None,
            },
            line = pasted => {
                match line {
                    // stdin closed: keep waiting for the browser only.
                    None => paste = None,
                    Some(line) => match parse_paste(&line) {
                        Paste::Skip => return Outcome::Skipped,
                        Paste::Params(p) => return Outcome::Pasted(p),
                        Paste::Ignored(why) => {
                            eprintln!("  Could not use the pasted input ({why}) — ignoring.");
                        }
                    },
                }
            }
        }
    }
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

/// Splits a loopback redirect URI into (host, port, path); `None` port when not explicit.
pub fn split_redirect(uri: &str) -> Option<(String, String, Option<u16>, String)> {
    let u = url::Url::parse(uri).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let path = if u.path().is_empty() { "/" } else { u.path() };
    Some((
        u.scheme().to_string(),
        host.to_string(),
        u.port(),
        path.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(port: u16, fallback: bool) -> LoopbackConfig {
        LoopbackConfig {
            host: "127.0.0.1".into(),
            port,
            path: "/cb".into(),
            fallback_ephemeral: fallback,
            success_title: "OK received.".into(),
            success_text: "You can close this tab.".into(),
            failure_title: "Failed.".into(),
        }
    }

    fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn opts(state: &str) -> WaitOptions {
        WaitOptions {
            expected_state: state.into(),
            timeout: Duration::from_secs(10),
            accept_paste: false,
        }
    }

    #[test]
    fn good_callback_after_a_stray_request() {
        let lb = Loopback::bind(cfg(0, false)).unwrap();
        let port = lb.port();
        assert_eq!(lb.redirect_uri(), format!("http://127.0.0.1:{port}/cb"));
        let h = std::thread::spawn(move || {
            let a = get(port, "/favicon.ico");
            let b = get(port, "/cb?code=C1&state=S");
            (a, b)
        });
        let got = wait_for_code(lb, &opts("S")).unwrap();
        assert_eq!(got, Received::Callback("C1".into()));
        let (a, b) = h.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 404"));
        assert!(b.starts_with("HTTP/1.1 200") && b.contains("OK received."));
    }

    #[test]
    fn wrong_state_is_rejected_with_a_failure_page() {
        let lb = Loopback::bind(cfg(0, false)).unwrap();
        let port = lb.port();
        let h = std::thread::spawn(move || get(port, "/cb?code=C1&state=EVIL"));
        let err = wait_for_code(lb, &opts("S")).unwrap_err();
        assert_eq!(
            err,
            WaitError::Flow(FlowError::new("state mismatch.").code("state_mismatch"))
        );
        let page = h.join().unwrap();
        assert!(page.starts_with("HTTP/1.1 400") && page.contains("Failed."));
    }

    #[test]
    fn busy_port_falls_back_only_when_allowed() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        assert!(Loopback::bind(cfg(busy, false)).is_err());
        let lb = Loopback::bind(cfg(busy, true)).unwrap();
        assert_ne!(lb.port(), busy);
    }

    #[test]
    fn times_out() {
        let lb = Loopback::bind(cfg(0, false)).unwrap();
        let mut o = opts("S");
        o.timeout = Duration::from_millis(100);
        assert_eq!(wait_for_code(lb, &o).unwrap_err(), WaitError::TimedOut);
    }

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

    fn local(path: &str) -> Loopback {
        Loopback::bind(LoopbackConfig::local(
            0,
            path,
            "Authorization complete",
            "ok",
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn redirect_wins_and_ignores_other_requests() {
        let lb = local("/callback");
        let port = lb.port();
        let task =
            tokio::spawn(async move { wait_redirect(lb, None, Duration::from_secs(10)).await });
        let got = tokio::task::spawn_blocking(move || {
            (
                get(port, "/favicon.ico"),
                get(port, "/callback"),
                get(port, "/callback?code=c1&state=s1"),
            )
        })
        .await
        .unwrap();
        assert!(got.0.starts_with("HTTP/1.1 404"));
        assert!(got.1.starts_with("HTTP/1.1 400"));
        assert!(got.2.starts_with("HTTP/1.1 200"));
        let out = task.await.unwrap();
        assert!(
            matches!(out, Outcome::Redirect(p) if p.code.as_deref() == Some("c1") && p.state.as_deref() == Some("s1"))
        );
    }

    #[tokio::test]
    async fn async_wait_times_out_and_frees_the_port() {
        let lb = local("");
        let port = lb.port();
        assert_eq!(
            wait_redirect(lb, None, Duration::from_millis(50)).await,
            Outcome::TimedOut
        );
        // The listener is gone: the same port can be bound again.
        let mut again = None;
        for _ in 0..50 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                again = Some(l);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(again.is_some());
    }

    #[tokio::test]
    async fn paste_wins() {
        let lb = local("");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send("nonsense words".to_string()).unwrap();
        tx.send("code=zz&state=s".to_string()).unwrap();
        let out = wait_redirect(lb, Some(&mut rx), Duration::from_secs(5)).await;
        assert!(matches!(out, Outcome::Pasted(p) if p.code.as_deref() == Some("zz")));
    }
}
