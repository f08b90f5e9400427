//! Shared harness: the real OAuth server (`tests/oauth-server`), temp homes, a `$BROWSER`
//! stand-in that follows the authorization redirects with curl.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The oidc-provider test server; killed on drop.
pub struct OAuthServer {
    child: Child,
    pub issuer: String,
}

impl OAuthServer {
    pub fn start(config_json: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth-server");
        assert!(
            dir.join("node_modules").is_dir(),
            "run `npm ci` in tests/oauth-server first"
        );
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .env("OAUTH_SERVER_CONFIG", config_json)
            .env("PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = line
            .trim_end()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("oauth server did not start: {line:?}"))
            .to_string();
        Self { child, issuer }
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--noproxy", "*"])
            .arg(format!("{}{path}", self.issuer))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn post_json(&self, path: &str, body: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--noproxy",
                "*",
                "-H",
                "content-type: application/json",
                "-d",
                body,
            ])
            .arg(format!("{}{path}", self.issuer))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Token-endpoint requests of one grant type.
    pub fn token_requests(&self, grant_type: &str) -> Vec<serde_json::Value> {
        self.get_json(&format!("/__test/log?grant_type={grant_type}"))["token_requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn registrations(&self) -> Vec<serde_json::Value> {
        self.get_json("/__test/log")["registration_requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp `HERMES_HOME` + `HOME`.
pub struct TestHome {
    pub dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn hermes_home(&self) -> PathBuf {
        self.dir.path().join("hermes")
    }
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn write_config(&self, yaml: &str) {
        std::fs::create_dir_all(self.hermes_home()).unwrap();
        std::fs::create_dir_all(self.user_home()).unwrap();
        std::fs::write(self.hermes_home().join("config.yaml"), yaml).unwrap();
    }
    /// A `$BROWSER` script that follows every redirect (the server auto-consents) in the
    /// background, so the last hop reaches the CLI's loopback listener.
    pub fn browser_script(&self) -> PathBuf {
        let p = self.dir.path().join("browser.sh");
        std::fs::write(
            &p,
            "#!/bin/sh\n(curl -sS -L --noproxy '*' -o /dev/null \"$1\" >/dev/null 2>&1 &)\nexit 0\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
    /// The binary with a clean environment pointing at this home.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hermes"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HERMES_HOME", self.hermes_home())
            .env("HOME", self.user_home())
            .env("NO_COLOR", "1")
            // Tests never reach the real network: anything not on loopback goes to a dead proxy.
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.1,localhost,::1");
        c
    }
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}
