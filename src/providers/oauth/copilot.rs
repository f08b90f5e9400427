//! GitHub Copilot: GitHub token discovery (env, then `gh auth token`), the Copilot token
//! exchange, and a GitHub device login that saves `COPILOT_GITHUB_TOKEN` to `$HERMES_HOME/.env`.
//!
//! Discovery and exchange run only in explicit commands (`auth status copilot`, `auth add
//! copilot --type oauth`); `auth list` and pool loading never touch the network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{self, HttpOptions};
use super::{
    BrowserPolicy, ErrorKind, OAuthError, OAuthStatus, device, env_nonempty, jsecs, jstr, say,
};
use crate::envvars;
use crate::pool::PoolContext;
use crate::store::atomic;

pub const DISPLAY: &str = "GitHub Copilot";
pub const RELOGIN: &str = "hermes auth add copilot --type oauth";
pub const CLIENT_ID: &str = "Iv1.b507a08c87ecfe98";
pub const SCOPE: &str = "read:user";
pub const DEFAULT_GITHUB: &str = "https://github.com";
pub const DEFAULT_EXCHANGE: &str = "https://api.github.com/copilot_internal/v2/token";
const TOKEN_VARS: &[&str] = &["COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"];

fn err(kind: ErrorKind, msg: impl Into<String>) -> OAuthError {
    OAuthError::new(DISPLAY, kind, msg)
}

fn is_classic_pat(t: &str) -> bool {
    t.starts_with("ghp_")
}

/// A discovered GitHub token and where it came from (`GH_TOKEN`, `gh auth token`).
#[derive(Debug, Clone)]
pub struct GithubToken {
    pub token: crate::secret::Secret,
    pub source: String,
}

fn find_gh(ctx: &PoolContext) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("gh");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let mut fixed = vec![
        PathBuf::from("/opt/homebrew/bin/gh"),
        PathBuf::from("/usr/local/bin/gh"),
    ];
    if let Some(h) = &ctx.user_home {
        fixed.push(h.join(".local/bin/gh"));
    }
    fixed.into_iter().find(|p| p.is_file())
}

fn gh_auth_token(ctx: &PoolContext) -> Option<String> {
    let gh = find_gh(ctx)?;
    let mut cmd = std::process::Command::new(gh);
    cmd.args(["auth", "token"]);
    if let Some(host) = env_nonempty("COPILOT_GH_HOST") {
        cmd.args(["--hostname", &host]);
    }
    let mut child = cmd
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out.trim().to_string()).filter(|s| !s.is_empty())
}

/// Env (`COPILOT_GITHUB_TOKEN`, `GH_TOKEN`, `GITHUB_TOKEN`; process env, then `.env`), skipping
/// classic PATs, then `gh auth token`.
pub fn resolve_token(ctx: &PoolContext) -> Result<Option<GithubToken>, OAuthError> {
    for var in TOKEN_VARS {
        let v = env_nonempty(var).or_else(|| ctx.env.lookup(var));
        if let Some(t) = v
            && !is_classic_pat(&t)
        {
            return Ok(Some(GithubToken {
                token: crate::secret::Secret::new(t),
                source: (*var).to_string(),
            }));
        }
    }
    match gh_auth_token(ctx) {
        Some(t) if is_classic_pat(&t) => Err(err(
            ErrorKind::Config,
            "Token from `gh auth token` is a classic PAT (ghp_*). Classic Personal Access Tokens (ghp_*) are not supported by Copilot; run `gh auth login` or `hermes auth add copilot --type oauth`.",
        )),
        Some(t) => Ok(Some(GithubToken {
            token: crate::secret::Secret::new(t),
            source: "gh auth token".into(),
        })),
        None => Ok(None),
    }
}

/// A Copilot API token from the exchange.
#[derive(Debug, Clone)]
pub struct CopilotToken {
    pub token: crate::secret::Secret,
    pub expires_at: f64,
    pub base_url: Option<String>,
}

fn exchange_url() -> String {
    env_nonempty(envvars::HERMES_COPILOT_TOKEN_EXCHANGE_URL)
        .unwrap_or_else(|| DEFAULT_EXCHANGE.into())
}

/// `GET …/copilot_internal/v2/token` with `Authorization: token <github token>`.
pub fn exchange(raw: &str, now: f64) -> Result<CopilotToken, OAuthError> {
    let client = http::client(DISPLAY, &HttpOptions::with_timeout(10.0))?;
    let reply = super::block_on(http::send(
        DISPLAY,
        "Copilot token exchange",
        client
            .get(exchange_url())
            .header("authorization", format!("token {raw}"))
            .header("user-agent", "GitHubCopilotChat/0.26.7")
            .header("accept", "application/json")
            .header("editor-version", "vscode/1.104.1"),
    ))?;
    if reply.status != 200 {
        return Err(err(
            ErrorKind::Protocol,
            format!("Copilot token exchange returned HTTP {}.", reply.status),
        ));
    }
    let m = reply.json().unwrap_or_default();
    let Some(tok) = jstr(&m, "token") else {
        return Err(err(
            ErrorKind::Protocol,
            "Copilot token exchange returned no token.",
        ));
    };
    let base = m
        .get("endpoints")
        .and_then(|e| e.get("api"))
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('/').to_string())
        .or_else(|| {
            tok.split(';')
                .find_map(|kv| kv.strip_prefix("proxy-ep="))
                .map(|h| format!("https://{}", h.replacen("proxy.", "api.", 1)))
        });
    Ok(CopilotToken {
        token: crate::secret::Secret::new(tok),
        expires_at: jsecs(&m, "expires_at").unwrap_or(now + 1800.0),
        base_url: base,
    })
}

/// `auth status copilot`: discovery + exchange (an exchange failure falls back to the raw token).
pub fn status(ctx: &PoolContext) -> Result<OAuthStatus, OAuthError> {
    let Some(gt) = resolve_token(ctx)? else {
        return Ok(OAuthStatus::out(None));
    };
    let mut details = vec![
        ("auth_type".to_string(), "github_token".to_string()),
        ("source".to_string(), gt.source.clone()),
    ];
    let mut warning = None;
    match exchange(gt.token.expose(), ctx.now()) {
        Ok(t) => {
            details.push((
                "expires_at".into(),
                crate::timefmt::iso_utc_micros(t.expires_at),
            ));
            if let Some(b) = t.base_url {
                details.push(("api_base_url".into(), b));
            }
        }
        Err(e) => {
            warning = Some(format!(
                "Copilot token exchange failed, the GitHub token is used as is: {}",
                e.message
            ))
        }
    }
    Ok(OAuthStatus::ok(details, warning))
}

/// Settings of the device login.
#[derive(Debug, Clone, Default)]
pub struct LoginSettings {
    pub timeout: Option<f64>,
    pub no_browser: bool,
}

fn github() -> String {
    env_nonempty(envvars::HERMES_COPILOT_GITHUB_URL)
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_GITHUB.into())
}

/// Sets `VAR=value` in a `.env` file (replacing an existing line), atomically, mode 0600.
fn upsert_dotenv(path: &std::path::Path, var: &str, value: &str) -> Result<(), OAuthError> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    let mut done = false;
    for l in old.lines() {
        let t = l.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        if t.split('=').next().map(str::trim) == Some(var) {
            if !done {
                lines.push(format!("{var}={value}"));
                done = true;
            }
        } else {
            lines.push(l.to_string());
        }
    }
    if !done {
        lines.push(format!("{var}={value}"));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    if let Some(dir) = path.parent() {
        atomic::ensure_private_dir(dir).map_err(|e| err(ErrorKind::Config, e.to_string()))?;
    }
    atomic::write_atomic(path, text.as_bytes(), 0o600)
        .map_err(|e| err(ErrorKind::Config, e.to_string()))
}

/// GitHub device login; saves `COPILOT_GITHUB_TOKEN` to `$HERMES_HOME/.env` and returns its path.
pub fn device_login(ctx: &PoolContext, s: &LoginSettings) -> Result<PathBuf, OAuthError> {
    let base = github();
    let client = http::client(
        DISPLAY,
        &HttpOptions::with_timeout(s.timeout.unwrap_or(15.0)),
    )?;
    let policy = BrowserPolicy {
        no_browser: s.no_browser,
        needs_graphical: true,
    };
    let ua = [("user-agent", "HermesAgent/1.0")];
    let tok = super::block_on(async {
        let reply = http::post_form(
            DISPLAY,
            "GitHub device-code request",
            &client,
            &format!("{base}/login/device/code"),
            &[("client_id", CLIENT_ID), ("scope", SCOPE)],
            &ua,
        )
        .await
        .map_err(|e| e.next(RELOGIN))?;
        if !reply.ok() {
            return Err(err(
                ErrorKind::Protocol,
                format!(
                    "GitHub Copilot login failed: the device-code request returned HTTP {} ({}).",
                    reply.status,
                    reply.excerpt()
                ),
            )
            .next(RELOGIN));
        }
        let dc = reply.json().unwrap_or_default();
        let (Some(code), Some(uri), Some(device_code)) = (
            jstr(&dc, "user_code"),
            jstr(&dc, "verification_uri"),
            jstr(&dc, "device_code"),
        ) else {
            return Err(err(
                ErrorKind::Protocol,
                "GitHub Copilot login failed: the device-code response is missing fields.",
            )
            .next(RELOGIN));
        };
        say(format!("  Open this URL in your browser: {uri}"));
        say(format!("  Enter this code: {code}"));
        super::maybe_open(policy, uri, "--");
        say("  Waiting for authorization...");
        let poll = device::Poll {
            provider: DISPLAY,
            restart: RELOGIN,
            token_url: &format!("{base}/login/oauth/access_token"),
            form: vec![
                ("client_id", CLIENT_ID.into()),
                ("device_code", device_code.into()),
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:device_code".into(),
                ),
            ],
            headers: vec![("user-agent", "HermesAgent/1.0".into())],
            interval: device::interval_from(&dc),
            expires_in: Duration::from_secs_f64(jsecs(&dc, "expires_in").unwrap_or(900.0)),
            poll_immediately: false,
        };
        device::poll(&client, &poll, &|i| {
            say(format!(
                "  Server asked to slow down; polling every {}s.",
                i.as_secs()
            ))
        })
        .await
    })?;
    let t = jstr(&tok, "access_token").unwrap_or_default();
    let path = ctx.home.dotenv();
    upsert_dotenv(&path, "COPILOT_GITHUB_TOKEN", t)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_upsert_replaces_one_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".env");
        std::fs::write(&p, "A=1\nCOPILOT_GITHUB_TOKEN=old\nB=2\n").unwrap();
        upsert_dotenv(&p, "COPILOT_GITHUB_TOKEN", "new").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "A=1\nCOPILOT_GITHUB_TOKEN=new\nB=2\n"
        );
    }
}
