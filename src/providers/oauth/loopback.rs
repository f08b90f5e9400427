//! The loopback redirect receiver of the PKCE logins: a one-shot HTTP listener on 127.0.0.1
//! that takes the authorization response, checks `state`, answers the browser with a small
//! page, and races a code pasted on standard input (for SSH sessions whose browser runs
//! elsewhere). Blocking and thread-based: a login needs no async runtime for this.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::pkce::{FlowError, parse_pasted};

/// Where to listen and what to answer.
#[derive(Debug, Clone)]
pub struct LoopbackConfig {
    /// `127.0.0.1`, `localhost` or `::1` (the redirect URI's host).
    pub host: String,
    /// 0 = let the OS choose.
    pub port: u16,
    /// The redirect path (`/oauth2callback`); other paths get 404.
    pub path: String,
    /// Bind an OS-assigned port when `port` is busy (the redirect URI then changes).
    pub fallback_ephemeral: bool,
    /// The `<h1>` of the page shown after a good callback.
    pub success_title: String,
    /// The `<h1>` of the page shown after an error or a wrong state.
    pub failure_title: String,
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

fn html(title: &str, body: &str) -> String {
    format!("<html><body><h1>{title}</h1>{body}</body></html>")
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.flush();
}

/// Reads the request head (up to 16 KiB) and returns the request target of a GET.
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

/// Serves one connection; `Some` when it ended the login.
fn handle(
    stream: &mut TcpStream,
    cfg: &LoopbackConfig,
    expected_state: &str,
) -> Option<Result<Received, FlowError>> {
    let (method, target) = read_target(stream)?;
    let url = url::Url::parse(&format!("http://loopback{target}")).ok()?;
    if url.path() != cfg.path {
        respond(stream, "404 Not Found", "Not found.");
        return None;
    }
    if method != "GET" {
        respond(stream, "405 Method Not Allowed", "Method not allowed.");
        return None;
    }
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let fail = |stream: &mut TcpStream, detail: &str| {
        respond(
            stream,
            "400 Bad Request",
            &html(
                &cfg.failure_title,
                &format!("{detail} You can close this tab and return to the terminal."),
            ),
        );
    };
    if let Some(err) = get("error") {
        let desc = get("error_description").unwrap_or_else(|| err.clone());
        fail(stream, "The provider reported an error.");
        return Some(Err(FlowError::new(desc).code(err)));
    }
    if get("state").as_deref() != Some(expected_state) {
        fail(stream, "The state parameter did not match this login.");
        return Some(Err(FlowError::new("state mismatch.").code("state_mismatch")));
    }
    let Some(code) = get("code") else {
        fail(stream, "The callback carried no authorization code.");
        return Some(Err(FlowError::new(
            "the callback carried no authorization code.",
        )
        .code("missing_code")));
    };
    respond(
        stream,
        "200 OK",
        &html(&cfg.success_title, "You can close this tab."),
    );
    Some(Ok(Received::Callback(code)))
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
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Event")
    }
}

/// Starts serving the listener (and reading pastes) in the background, so the browser can
/// be opened afterwards without racing the listener; the timeout counts from here.
pub fn start(lb: Loopback, opts: &WaitOptions) -> Pending {
    let (tx, rx) = mpsc::channel::<Event>();
    let Loopback { listener, cfg, .. } = lb;
    let state = opts.expected_state.clone();
    let server_tx = tx.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut stream) = conn else { continue };
            if let Some(outcome) = handle(&mut stream, &cfg, &state) {
                let _ = server_tx.send(Event::Done(outcome));
                return;
            }
        }
    });
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
                            Some(s) if s != state => {
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
}
